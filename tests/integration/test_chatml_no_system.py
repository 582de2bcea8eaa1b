"""The `chat_template: chatml` recipe option on the default model: the training chats, and the template saved with
the trained model (what the next round's synth prompts with), get no SmolLM system turn where a chat has none; a
chat's own system turn is kept. For the default model (whose own template adds SmolLM's system prompt) and for a
tokenizer that has no chat template at all."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from harness.config import TrainConfig

pytestmark = [
    pytest.mark.slow,
    pytest.mark.usefixtures("one_torch_thread"),
]  # a step is many times slower on a busy CPU otherwise

SYSTEM = {"role": "system", "content": "You add numbers."}
USER, ASSISTANT = {"role": "user", "content": "What is 2 + 3?"}, {"role": "assistant", "content": "It is 5."}
NO_SYSTEM_CHAT = "<|im_start|>user\nWhat is 2 + 3?<|im_end|>\n<|im_start|>assistant\nIt is 5.<|im_end|>\n"
SYSTEM_CHAT = "<|im_start|>system\nYou add numbers.<|im_end|>\n" + NO_SYSTEM_CHAT
FAST = {"batch_size": 2, "max_length": 64, "learning_rate": 1e-4, "lr_scheduler_type": "constant", "threads": 1}


def template_less_copy(model_path: str, folder: Path) -> str:
    """The default model with its tokenizer saved without a chat template (weights linked, not copied)."""
    from transformers import AutoTokenizer

    folder.mkdir()
    for name in os.listdir(model_path):
        if name in ("config.json", "generation_config.json") or name.endswith(".safetensors"):
            (folder / name).symlink_to(Path(model_path) / name)
    tokenizer = AutoTokenizer.from_pretrained(model_path)
    tokenizer.chat_template = None
    tokenizer.save_pretrained(folder)
    assert AutoTokenizer.from_pretrained(folder).chat_template is None
    return str(folder)


def assert_no_added_system_turn(tokenizer) -> None:
    no_system = tokenizer.apply_chat_template([USER, ASSISTANT], tokenize=False)
    assert "SmolLM" not in no_system and no_system == NO_SYSTEM_CHAT
    prompt = tokenizer.apply_chat_template([USER], tokenize=False, add_generation_prompt=True)
    assert prompt == "<|im_start|>user\nWhat is 2 + 3?<|im_end|>\n<|im_start|>assistant\n"
    assert tokenizer.apply_chat_template([SYSTEM, USER, ASSISTANT], tokenize=False) == SYSTEM_CHAT


@pytest.mark.parametrize("tokenizer_kind", ["default", "template-less"])
def test_chatml_training_chats_get_no_system_turn(tmp_path, default_model, tokenizer_kind):
    from datasets import Dataset

    from trainers.common import load_model_and_tokenizer
    from trainers.sft import build_sft

    path = default_model.path if tokenizer_kind == "default" else template_less_copy(default_model.path, tmp_path / "m")
    cfg = TrainConfig(
        method="sft", input="x", output="y", chat_template="chatml", assistant_only_loss=True, max_length=128
    )
    model, tokenizer = load_model_and_tokenizer(path, cfg)
    assert_no_added_system_turn(tokenizer)
    dataset = Dataset.from_list([{"messages": [USER, ASSISTANT]}, {"messages": [SYSTEM, USER, ASSISTANT]}])
    trainer = build_sft(model, tokenizer, dataset, cfg, tmp_path / "ckpt", [])
    rows = [trainer.train_dataset[i] for i in range(2)]
    assert [tokenizer.decode(row["input_ids"]) for row in rows] == [NO_SYSTEM_CHAT, SYSTEM_CHAT]
    for row in rows:  # the loss is on the assistant turn only
        trained = [t for t, label in zip(row["input_ids"], row["labels"], strict=True) if label != -100]
        assert tokenizer.decode(trained) == "It is 5.<|im_end|>"


def test_the_saved_template_prompts_the_next_round_without_a_system_turn(tmp_path, default_model):
    from transformers import AutoTokenizer

    from harness.stages.train import run_train

    rows = [{"messages": [USER, ASSISTANT]}, {"messages": [SYSTEM, USER, ASSISTANT]}]
    data = tmp_path / "chats.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    cfg = TrainConfig(
        method="sft",
        input=str(data),
        output=str(tmp_path / "model"),
        chat_template="chatml",
        assistant_only_loss=True,
        max_steps=1,
        **FAST,
    )
    folder = Path(run_train(cfg).output)
    saved = AutoTokenizer.from_pretrained(folder)
    assert "You are a helpful AI assistant" not in saved.chat_template  # SmolLM's system prompt: not even in it
    assert_no_added_system_turn(saved)
