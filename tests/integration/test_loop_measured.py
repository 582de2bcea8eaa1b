"""`harness loop star --eval mmlu`: the starting model and both rounds' models answer the same drawn questions;
loop.json and the summary carry the per-round table; `--keep best` picks the loop's result; `harness report`
on the loop folder draws accuracy by round; the result pushed `--to-dir` has a model card and loads. One loop
serves all of it (each loop costs a minute of CI)."""

from __future__ import annotations

import json
import subprocess
import sys

import polars as pl
import pytest

from tests.integration.test_loop import loop

pytestmark = pytest.mark.slow

SUBJECTS = "abstract_algebra,anatomy"
SMALL = ["--n", "8", "--max-tokens", "24", "--seed", "0", "--max-steps", "1", "--batch-size", "2"]
SMALL += ["--max-length", "96", "--threads", "1"]  # the recipe's learning rate: round 2 still finds pairs


def harness(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "harness.cli", *args], capture_output=True, text=True, timeout=300)


def test_two_measured_rounds_keep_the_best_report_and_push_it(tmp_path, default_model):
    out = tmp_path / "loop"
    measure = ["--eval", "mmlu", "--eval-subsets", SUBJECTS, "--eval-limit", "5", "--keep", "best"]
    priced = ["--cost-per-hour", "3.6"]  # each round's synth: the model card says what its data cost
    result = loop("--output", str(out), "--rounds", "2", *SMALL, *measure, "--stop-when-worse", *priced)
    assert result.returncode == 0, result.stderr[-3000:]

    links = json.loads((out / "loop.json").read_text())
    table = links["table"]
    if table[1]["accuracy"] < table[0]["accuracy"]:  # round 1 got worse: the loop ends there, and says why
        assert len(table) == 2 and "accuracy fell from" in links["stopped"]
        pytest.skip("round 1 scored below the start; the rest needs two rounds")
    assert links["stopped"] is None
    assert [row["round"] for row in table] == [0, 1, 2]
    assert all(row["questions"] == 10 and 0 <= row["accuracy"] <= 1 for row in table)
    stages = {s["name"]: s for s in json.loads((out / "pipeline.json").read_text())["stages"]}
    for row, recorded in zip(table[1:], links["rounds"], strict=True):
        generated = stages[f"round-{recorded['round']}/generate"]
        assert row["training_rows"] == stages[f"round-{recorded['round']}/decontam"]["rows"] >= 1
        assert row["valid_share"] == generated["valid"] / generated["rows"] and row["loss"] is not None
    drawn = [  # the same drawn questions for every model
        sorted(pl.read_parquet(out / folder / "*.parquet")["question"].to_list())
        for folder in ("start-eval", "round-1/eval", "round-2/eval")
    ]
    assert drawn[0] == drawn[1] == drawn[2] and len(drawn[0]) == 10
    best = max(links["rounds"], key=lambda r: (r["eval"]["accuracy"], -r["round"]))
    assert links["final_model"] == best["model_out"] == result.stdout.strip()
    assert "accuracy" in result.stderr and "start" in result.stderr

    report = tmp_path / "report"
    shown = harness("report", str(out), "--output", str(report))
    assert shown.returncode == 0, shown.stderr[-2000:]
    markdown = (report / "report.md").read_text()
    assert "Accuracy by round" in markdown and f"{table[2]['accuracy']:.3f}" in markdown
    assert list((report / "plots").glob("*.png"))

    check_pushed_model(best, links, tmp_path / "pushed")


def check_pushed_model(best: dict, links: dict, target) -> None:
    from transformers import AutoModelForCausalLM

    model = best["model_out"]
    result = harness("push", model, "--repo-id", "me/star-best", "--to-dir", str(target), "--license", "apache-2.0")
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == str(target)

    card = (target / "README.md").read_text()
    provenance = json.loads((target / "harness-train.json").read_text())
    assert "base_model: HuggingFaceTB/SmolLM2-135M-Instruct" in card and "license: apache-2.0" in card
    assert "recipe: memphis-rank" in card and "rank_weight: 5.0" in card  # recipe and hyperparameters
    assert best["stages"]["decontam"] in card and "A `pairs` artifact" in card and "`harness decontam`" in card
    assert "Decontamination: checked against mmlu" in card  # each round's pairs, by the pipeline's decontam stage
    assert "Cost of the training data (every stage that made it): " in card and "engine-s)" in card
    assert f"final {provenance['result']['last_loss']:.4f}" in card
    assert f"(loop round {best['round']}) | mmlu | 10 | {best['eval']['accuracy']:.3f} |" in card
    assert f"| the starting model | mmlu | 10 | {links['start_eval']['accuracy']:.3f} |" in card
    loaded = AutoModelForCausalLM.from_pretrained(target)
    assert loaded.num_parameters() > 100_000_000
