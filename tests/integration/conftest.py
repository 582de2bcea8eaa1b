"""Session fixtures: the default model is converted once and the engine is built once per test session."""

from __future__ import annotations

import pytest


@pytest.fixture
def default_model():
    """Resolved per test (cheap: the conversion is shared through the session's models folder)."""
    from harness.models import resolve_model

    return resolve_model("default")


@pytest.fixture(scope="session")
def _session_model_path(_session_models, tmp_path_factory):
    import os

    from harness.models import resolve_model

    cache = tmp_path_factory.mktemp("engine-cache")
    (cache / "models").symlink_to(_session_models, target_is_directory=True)
    before = os.environ.get("HARNESS_CACHE_DIR")
    os.environ["HARNESS_CACHE_DIR"] = str(cache)
    try:
        return resolve_model("default").path
    finally:
        if before is None:
            del os.environ["HARNESS_CACHE_DIR"]
        else:
            os.environ["HARNESS_CACHE_DIR"] = before


@pytest.fixture(scope="session")
def engine(_session_model_path):
    from harness.backends.transformers_engine import TransformersBackend

    backend = TransformersBackend(_session_model_path)
    yield backend
    backend.close()
