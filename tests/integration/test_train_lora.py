"""LoRA (PEFT) training on the default model: adapters trained and saved; `merge` gives a plain model folder that
synth loads, with an added special token whose (resized) embeddings were trained and saved."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.stages.train import PROVENANCE_FILE
from tests.integration.test_train import (
    GRPO_STEP,
    assert_loads_in_synth,
    changed_tensors,
    conversations,
    grpo_rows,
    losses,
    pairs,
    train,
)

pytestmark = pytest.mark.slow

TOKEN = "<|reasoning|>"


def test_sft_lora_merged_with_a_special_token_loads_in_synth(tmp_path, default_model):
    from safetensors.torch import load_file
    from transformers import AutoTokenizer

    peft = {"r": 4, "merge": True}
    _, summary = train(
        tmp_path, "sft", conversations(), max_steps=2, learning_rate=1e-3, peft=peft, special_tokens=[TOKEN]
    )
    folder = Path(summary.output)
    assert losses(folder)[-1] < losses(folder)[0]
    assert (folder / "adapter" / "adapter_model.safetensors").is_file()  # the adapter, kept beside the merged model
    assert not (folder / "adapter_config.json").exists()  # the folder itself is a plain model

    merged, base = (
        load_file(str(folder / "model.safetensors")),
        load_file(str(Path(default_model.path) / "model.safetensors")),
    )
    embeddings = merged["model.embed_tokens.weight"]
    assert embeddings.shape[0] == base["model.embed_tokens.weight"].shape[0] + 1  # resized for the new token
    old_rows = embeddings[: base["model.embed_tokens.weight"].shape[0]]
    assert not old_rows.equal(base["model.embed_tokens.weight"])  # the embeddings trained (modules_to_save)
    changed = changed_tensors(default_model.path, folder)
    assert changed["model.layers.0.self_attn.q_proj.weight"] and not changed["model.norm.weight"]  # LoRA: linears only
    tokenizer = AutoTokenizer.from_pretrained(folder)
    assert tokenizer(TOKEN, add_special_tokens=False)["input_ids"] == [embeddings.shape[0] - 1]
    assert json.loads((folder / PROVENANCE_FILE).read_text())["identity"]["config"]["peft"]["r"] == 4

    assert_loads_in_synth(folder, tmp_path)


def test_rank_trains_an_adapter_only_and_pushes_it(tmp_path, default_model, monkeypatch):
    _, summary = train(
        tmp_path, "rank", pairs(), max_steps=2, learning_rate=1e-3, peft={"r": 4, "target_modules": "q_proj,v_proj"}
    )
    folder = Path(summary.output)
    config = json.loads((folder / "adapter_config.json").read_text())
    assert sorted(config["target_modules"]) == ["q_proj", "v_proj"] and config["lora_alpha"] == 8
    assert (folder / "adapter_model.safetensors").is_file() and not (folder / "model.safetensors").exists()
    assert losses(folder, "rank_loss")
    check_adapter_upload(folder, tmp_path, monkeypatch)


def check_adapter_upload(folder: Path, tmp_path: Path, monkeypatch) -> None:
    """The adapter folder goes to a model repo (a stand-in Hub records it): its files and a peft model card."""
    from huggingface_hub import constants

    from harness.stages.push_model import push_model
    from tests.hub_server import RecordingHub

    with RecordingHub("hf_test") as hub:
        monkeypatch.setattr(constants, "ENDPOINT", hub.url)
        monkeypatch.setenv("HF_TOKEN", "hf_test")
        monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
        run = push_model(str(folder), "me/rank-lora")
        assert run.pushed.created and run.pushed.repo_url == f"{hub.url}/me/rank-lora"
        assert ("GET", "/api/models/me/rank-lora") in [(c.method, c.path) for c in hub.calls]
        files = hub.files("me/rank-lora")
        assert files["adapter_model.safetensors"] == (folder / "adapter_model.safetensors").read_bytes()
        assert b"library_name: peft" in files["README.md"] and "harness-train.json" in files


@pytest.mark.parametrize("method", ["dpo", "grpo"])
def test_dpo_and_grpo_train_adapters(tmp_path, default_model, method):
    """The other two methods with LoRA: an adapter folder whose B matrices (zero at the start) have moved. DPO's
    reference is the model as it started: TRL keeps a frozen copy of the starting adapter, not a second model."""
    from safetensors.torch import load_file

    rows, settings = (pairs(), {"max_steps": 2}) if method == "dpo" else (grpo_rows(), GRPO_STEP)
    _, summary = train(tmp_path, method, rows, peft={"r": 4}, learning_rate=1e-3, **settings)
    folder = Path(summary.output)
    assert (folder / "adapter_config.json").is_file() and not (folder / "model.safetensors").exists()
    adapter = load_file(str(folder / "adapter_model.safetensors"))
    moved = [name for name, tensor in adapter.items() if "lora_B" in name and tensor.abs().sum() > 0]
    assert moved, "no LoRA B matrix left zero: the adapter trained"
    assert losses(folder)
