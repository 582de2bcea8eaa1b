"""The Memphis-CoT card's two training specifics on the default model: the initial SFT phase `loop star
--sft-input` runs first (its two prompt formats), and the rank phase's cross-entropy is on the ground truth."""

from __future__ import annotations

import json

import pytest
from rich.console import Console

from harness.config import LoopConfig
from harness.stages.loop_star_sft import run_initial_sft
from trainers.rank import RankCollator

pytestmark = pytest.mark.slow

TEXTS = [
    "### User:\nSay hi.\n\n### Assistant:\nHi!\n\n### User:\nAnd bye?\n\n### Assistant:\nBye!",
    "### User:\n2 + 3?\n\n### Rationale:\nTwo plus three is five.\n\n### Answer:\n5",
]


def test_the_initial_sft_phase_trains_the_starting_model(tmp_path, default_model):
    source = tmp_path / "instruct.jsonl"
    source.write_text("".join(json.dumps({"text": t}) + "\n" for t in TEXTS))
    train = {"max_steps": 1, "batch_size": 2, "gradient_accumulation_steps": 1, "max_length": 96}
    cfg = LoopConfig(input="q", output=str(tmp_path / "loop"), sft_input=str(source), train=train, threads=1)
    model = run_initial_sft(cfg, Console(stderr=True, quiet=True))
    assert model == str(tmp_path / "loop" / "sft" / "model")
    rows = [json.loads(line) for line in (tmp_path / "loop" / "sft" / "data.jsonl").read_text().splitlines()]
    assert [r["completion"] for r in rows] == ["Hi!", "Bye!", "Two plus three is five.\n\n### Answer:\n5"]
    provenance = json.loads((tmp_path / "loop" / "sft" / "model" / "harness-train.json").read_text())
    assert provenance["recipe"] == "memphis-sft" and provenance["identity"]["config"]["neftune_noise_alpha"] == 10
    assert provenance["optimizer"]["used"] == "adamw_torch_fused"  # TrainingArguments' default on torch 2.13
    assert run_initial_sft(cfg, Console(stderr=True, quiet=True)) == model  # done: not trained again


def test_the_rank_batch_puts_its_cross_entropy_on_the_gold(default_model):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(default_model.path)
    tokenizer.pad_token = tokenizer.pad_token or tokenizer.eos_token
    prompt = "### User:\n2 + 3?\n\n### Rationale:\n"
    row = {"prompt": prompt, "chosen": "It is 5.\n\n### Answer:\n5", "rejected": "It is 6.\n\n### Answer:\n6"}
    gold = "Two plus three is five.\n\n### Answer:\n5"
    batch = RankCollator(tokenizer, 128)([{**row, "gold": gold}, {**row, "gold": ""}])
    assert batch["input_ids"].shape[0] == 6  # 2 chosen, 2 rejected, 2 ground truths

    def trained_text(i: int) -> str:
        pairs = zip(batch["input_ids"][i].tolist(), batch["labels"][i].tolist(), strict=True)
        ids = [t for t, label in pairs if label != -100]
        return tokenizer.decode(ids, skip_special_tokens=True)

    assert trained_text(4) == gold and trained_text(5) == row["chosen"]  # no gold: the chosen stands in
    assert trained_text(0) == row["chosen"] and trained_text(2) == row["rejected"]
