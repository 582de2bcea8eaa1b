"""Model resolution: the bundled default, a local folder and a hub id all go through one code path."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.engines.base import Request
from harness.engines.models import ModelNotFound, resolve_model

pytestmark = pytest.mark.slow


def test_default_is_converted_once_and_reused(default_model):
    folder = default_model.path
    assert default_model.source == "default" and default_model.fingerprint.startswith("sha256:")
    meta = json.loads((Path(folder) / "harness-model.json").read_text())
    assert meta["dtype"] == "float32" and default_model.fingerprint == f"sha256:{meta['source_sha256']}"
    config = json.loads((Path(folder) / "config.json").read_text())
    assert config["model_type"] == "llama"
    again = resolve_model("default")
    assert again == default_model


def test_local_folder_uses_the_same_path(default_model):
    local = resolve_model(default_model.path)
    assert local.source == "local" and Path(local.path) == Path(default_model.path).resolve()
    assert local.fingerprint.startswith("sha256:") and local.fingerprint != default_model.fingerprint


def test_chat_template_is_chatml(engine):
    text = engine.render(Request(messages=({"role": "user", "content": "hi"},)))
    assert text.startswith("<|im_start|>system\n") and text.endswith(
        "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"
    )


def test_hub_id_without_network_is_a_clear_error(monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(ModelNotFound, match="HuggingFaceTB/SmolLM2-135M-Instruct"):
        resolve_model("HuggingFaceTB/SmolLM2-135M-Instruct")


def test_missing_local_path_and_non_model_folder(tmp_path):
    with pytest.raises(ModelNotFound, match="does not exist"):
        resolve_model("./no/such/model")
    with pytest.raises(ModelNotFound, match="no config.json"):
        resolve_model(str(tmp_path))
