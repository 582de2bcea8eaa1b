"""The five card pipelines (harness/pipeline/shipped/), each run once at its tiny size through the CLI as a user
runs it: every stage done, the trained model's provenance, the eval where the card evaluates, the report, and one
check of what makes each card's method its own."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.slow

SHIPPED = Path("harness/pipeline/shipped")
# card pipeline -> its train stages (model folders) and its eval stage (None: the card publishes no evaluation)
CARDS = {
    "backfill": (["train"], None),
    "thought-ranking": (["round-1/train"], None),
    "structured": (["train"], "eval"),
    "memphis": (["sft", "round-1/train", "round-2/train"], None),
    "reasoning-token": (["train"], None),
}


def rows(folder: Path) -> list[dict]:
    import pyarrow.parquet as pq

    return [row for shard in sorted(folder.glob("part-*.parquet")) for row in pq.read_table(shard).to_pylist()]


def provenance(folder: Path) -> dict:
    return json.loads((folder / "harness-train.json").read_text())


@pytest.mark.parametrize("name", list(CARDS))
def test_card_pipeline_runs_end_to_end_at_tiny_size(name, tmp_path, default_model):
    out = tmp_path / name
    result = subprocess.run(
        [sys.executable, "-m", "harness.cli", "run", name, "--output", str(out), "--size", "tiny"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-4000:]
    assert result.stdout.strip() == str(out)
    stages = json.loads((out / "pipeline.json").read_text())["stages"]
    assert stages and all(s["status"] == "done" for s in stages), stages
    trains, eval_stage = CARDS[name]
    assert [s["name"] for s in stages if s["command"] == "train"] == trains
    for train in trains:
        assert (out / train / "harness-train.json").is_file(), train
    assert [s["name"] for s in stages if s["command"] == "eval mmlu"] == ([eval_stage] if eval_stage else [])
    if eval_stage:
        assert rows(out / eval_stage), "the eval stage wrote no table"
    assert (out / "report" / "report.html").is_file() and (out / "report" / "report.md").is_file()
    recipe = yaml.safe_load((SHIPPED / f"{name}.yaml").read_text())  # the recipe each train stage names
    named = [s["settings"].get("recipe") for s in _stages(recipe) if s["command"] == "train"]
    assert [provenance(out / t)["recipe"] for t in trains] == (named if name != "memphis" else
                                                                [named[0], named[1], named[1]])  # fmt: skip
    CHECKS[name](out)


def _stages(spec: dict) -> list[dict]:
    return [s for e in spec["stages"] for s in (e["rounds"]["stages"] if "rounds" in e else [e])]


def _backfill(out: Path) -> None:
    # The card's axolotl config reached the trainer: 2 x 2 batch, 4 epochs, lr 2.5e-5, packing, chatml.
    config = provenance(out / "train")["identity"]["config"]
    assert (config["batch_size"], config["gradient_accumulation_steps"], config["num_train_epochs"]) == (2, 2, 4)
    assert (config["learning_rate"], config["packing"], config["chat_template"]) == (2.5e-5, True, "chatml")


def _thought_ranking(out: Path) -> None:
    # One branch per forced character (tiny: `ab`), each thought opened by it (`<thought>c`), ranked by the judge; one row per
    # question selected. (Tiny's 8-token answers never finish, so its selected rows are unfinished ones without
    # the task's `messages`; at full size a selected row is the forced thought + answer conversation.)
    judged = rows(out / "round-1" / "verify")
    assert sorted(row["variant"] for row in judged) == ["a", "a", "b", "b"]
    assert all(row["thought"].startswith(row["variant"]) for row in judged)  # the forced character opens it
    assert any(row["judge_rank_score"] is not None for row in judged)
    assert 1 <= len(rows(out / "round-1" / "select")) <= 2


def _structured(out: Path) -> None:
    # GRPO learned from the card's format rules and correctness, by their reward names.
    recipe = yaml.safe_load(Path("trainers/recipes/structured-grpo.yaml").read_text())["rewards"]
    assert provenance(out / "train")["identity"]["config"]["rewards"] == recipe
    logged = (out / "train" / "training_log.jsonl").read_text()
    assert all(reward in logged for reward in recipe), logged[:2000]


def _memphis(out: Path) -> None:
    # Round 1 trains on the initial SFT's model, round 2 on round 1's; each round on its own star pairs.
    assert provenance(out / "round-1" / "train")["model"]["requested"] == str(out / "sft")
    assert provenance(out / "round-2" / "train")["model"]["requested"] == str(out / "round-1" / "train")
    for k in (1, 2):
        assert provenance(out / f"round-{k}" / "train")["method"] == "rank"
        assert rows(out / f"round-{k}" / "generate-pairs")


def _reasoning_token(out: Path) -> None:
    # The trained tokenizer holds <|reasoning|> as one token, beyond the base vocabulary.
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(out / "train")
    ids = tokenizer.encode("<|reasoning|>", add_special_tokens=False)
    assert len(ids) == 1 and ids[0] >= 49152, ids  # SmolLM2's vocabulary has 49152 tokens


CHECKS = {
    "backfill": _backfill,
    "thought-ranking": _thought_ranking,
    "structured": _structured,
    "memphis": _memphis,
    "reasoning-token": _reasoning_token,
}
