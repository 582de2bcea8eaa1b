"""`harness loop thought-ranking` end to end on the default model: one round of thought variants -> rank judge
-> best-of-n -> SFT, then a rerun that skips it and starts round 2 from round 1's model.

The 135M judge rarely writes a readable ranking (tests/integration/test_judge.py), so the questions are chosen
for what the default model does greedily with 4 variants: on the first, one variant alone answers (a question
with one answer is ranked first without a request); on the second, several answer and the judge is asked.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from harness.artifacts.writer import read_provenance

pytestmark = pytest.mark.slow

QUESTIONS = Path(__file__).parents[1] / "fixtures" / "thought_variants_questions.jsonl"
TINY = [
    "--variants",
    "abcd",
    "--max-thought-tokens",
    "12",
    "--max-answer-tokens",
    "16",
    "--judge-max-tokens",
    "8",
    "--rank-chunk",
    "4",
    "--max-steps",
    "1",
    "--batch-size",
    "2",
    "--max-length",
    "128",
    "--threads",
    "1",
]


def loop(out: Path, rounds: int) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "harness.cli", "loop", "thought-ranking", "--input", str(QUESTIONS)]
    command += ["--output", str(out), "--rounds", str(rounds), *TINY]
    return subprocess.run(command, capture_output=True, text=True, timeout=600)


def test_one_round_end_to_end_then_resume_into_round_two(tmp_path, default_model):
    out = tmp_path / "loop"
    result = loop(out, 1)
    assert result.returncode == 0, result.stderr
    folder = out / "round-1"
    model = folder / "train"
    assert result.stdout.strip() == str(model)
    for stage in ("[synth thought-variants]", "[judge rank]", "[select best-of-n]", "[decontam]", "[train sft]"):
        assert stage in result.stderr

    links = json.loads((out / "loop.json").read_text())
    assert links["loop"] == "thought-ranking" and links["final_model"] == str(model) and links["stopped"] is None
    [round_1] = links["rounds"]
    assert round_1["model_in"] == "default" and round_1["model_out"] == str(model)
    names = ("generate", "verify", "select", "decontam", "train")
    assert round_1["stages"] == {k: str(folder / k) for k in names}
    stages = {s["name"]: s for s in json.loads((out / "pipeline.json").read_text())["stages"]}
    assert stages["round-1/generate"]["rows"] == 8 and round_1["train"]["steps"] == 1  # 2 questions x 4 variants

    # Lineage: each stage's rows link to the last's, and the model to its SFT rows.
    variants = pl.read_parquet(folder / "generate" / "*.parquet")
    judged = pl.read_parquet(folder / "verify" / "*.parquet")
    sft = pl.read_parquet(folder / "select" / "*.parquet")
    assert judged["record_id"].to_list() == variants["record_id"].to_list()
    assert stages["round-1/generate"]["valid"] == variants["valid"].sum()
    assert sft.height == round_1["figures"]["training_rows"] >= 1  # nothing contaminated: every selected row
    calibration = json.loads((folder / "verify" / "judge_summary.json").read_text())["judges"]["rank"]
    assert calibration["requests"] >= 1  # the judge model was asked about the question with several answers
    for row in sft.iter_rows(named=True):
        winner = judged.filter(
            (pl.col("record_id") == row["parent_id"]) & (pl.col("candidate_idx") == row["parent_candidate_idx"])
        ).row(0, named=True)
        assert winner["valid"] and winner["judge_rank_rank"] == 1 and row["score"] == 1.0
        assistant = row["messages"][-1]["content"]
        assert assistant.startswith(f"<thought>{winner['thought']}</thought>")
        assert winner["answer"] in assistant  # the judge saw only the answer; SFT keeps the thought with it
    provenance = json.loads((model / "harness-train.json").read_text())
    assert provenance["method"] == "sft" and provenance["recipe"] == "thought-ranking-sft"
    assert provenance["input"]["label"] == str(folder / "decontam")

    written = {p: p.stat().st_mtime_ns for p in folder.rglob("*.parquet")}

    # A rerun skips round 1 (nothing sampled, judged or trained again) and round 2 starts from its model.
    again = loop(out, 2)
    assert again.returncode == 0, again.stderr
    assert "round-1/train: done already, skipped" in again.stderr
    links = json.loads((out / "loop.json").read_text())
    assert links["rounds"][0] == round_1
    round_2 = links["rounds"][1]
    assert round_2["model_in"] == str(model)
    shard = sorted((out / "round-2" / "generate").glob("*.parquet"))[0]
    assert read_provenance(shard)["model"]["path"] == str(model)  # the round's model loaded and generated
    # Round 2 trains, or stops saying why (one SFT step may change which variants answer).
    assert (round_2["model_out"] is not None) != (links["stopped"] is not None)
    assert {p: p.stat().st_mtime_ns for p in folder.rglob("*.parquet")} == written  # round 1 left as it was
