"""Shared test setup: nothing a test does may touch the user's real cache."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def _session_models(tmp_path_factory):
    """Converted models are shared by the whole session: the default model is converted once."""
    return tmp_path_factory.mktemp("models")


@pytest.fixture(autouse=True)
def _isolated_cache_dir(tmp_path, monkeypatch, _session_models):
    """Each test gets its own harness cache (generation cache, locks), linked to the session's models."""
    cache = tmp_path / "harness-cache"
    cache.mkdir()
    (cache / "models").symlink_to(_session_models, target_is_directory=True)
    monkeypatch.setenv("HARNESS_CACHE_DIR", str(cache))
