"""`harness loop star --eval mmlu`: the starting model and both rounds' models answer the same drawn questions;
loop.json and the summary carry the per-round table; `--keep best` picks the loop's result; `harness report`
on the loop folder draws accuracy by round."""

from __future__ import annotations

import json

import polars as pl
import pytest

from tests.integration.test_loop import loop

pytestmark = pytest.mark.slow

SUBJECTS = "abstract_algebra,anatomy"
SMALL = ["--n", "8", "--max-tokens", "24", "--seed", "0", "--max-steps", "1", "--batch-size", "2"]
SMALL += ["--max-length", "96", "--threads", "1"]  # the recipe's learning rate: round 2 still finds pairs


def test_two_measured_rounds_keep_the_best_and_report_accuracy_by_round(tmp_path, default_model):
    out = tmp_path / "loop"
    measure = ["--eval", "mmlu", "--eval-subsets", SUBJECTS, "--eval-limit", "5", "--keep", "best"]
    result = loop("--output", str(out), "--rounds", "2", *SMALL, *measure)
    assert result.returncode == 0, result.stderr[-3000:]

    links = json.loads((out / "loop.json").read_text())
    table = links["table"]
    assert [row["round"] for row in table] == [0, 1, 2]
    assert all(row["questions"] == 10 and 0 <= row["accuracy"] <= 1 for row in table)
    for row, recorded in zip(table[1:], links["rounds"], strict=True):
        assert row["training_rows"] == recorded["pairs_count"] >= 1
        assert row["valid_share"] == recorded["valid"] / recorded["rows"] and row["loss"] is not None
    # The same drawn questions for every model.
    drawn = [
        sorted(pl.read_parquet(out / folder / "*.parquet")["question"].to_list())
        for folder in ("start-eval", "round-1/eval", "round-2/eval")
    ]
    assert drawn[0] == drawn[1] == drawn[2] and len(drawn[0]) == 10
    best = max(links["rounds"], key=lambda r: (r["eval"]["accuracy"], -r["round"]))
    assert links["final_model"] == best["model_out"] == result.stdout.strip()
    assert "accuracy" in result.stderr and "start" in result.stderr

    report = tmp_path / "report"
    shown = loop_report(out, report)
    assert shown.returncode == 0, shown.stderr[-2000:]
    markdown = (report / "report.md").read_text()
    assert "Accuracy by round" in markdown and f"{table[2]['accuracy']:.3f}" in markdown
    assert list((report / "plots").glob("*.png"))


def loop_report(folder, output):
    import subprocess
    import sys

    command = [sys.executable, "-m", "harness.cli", "report", str(folder), "--output", str(output)]
    return subprocess.run(command, capture_output=True, text=True, timeout=300)


def test_a_measured_rounds_model_pushed_to_a_folder_with_its_card(tmp_path, default_model):
    import subprocess
    import sys

    from transformers import AutoModelForCausalLM

    out = tmp_path / "loop"
    measure = ["--eval", "mmlu", "--eval-subsets", "anatomy", "--eval-limit", "2"]
    assert loop("--output", str(out), "--rounds", "1", *SMALL, *measure).returncode == 0
    model, target = out / "round-1" / "model", tmp_path / "pushed"
    command = [
        sys.executable,
        "-m",
        "harness.cli",
        "push",
        str(model),
        "--repo-id",
        "me/star-r1",
        "--to-dir",
        str(target),
    ]
    result = subprocess.run([*command, "--license", "apache-2.0"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == str(target)

    card = (target / "README.md").read_text()
    links = json.loads((out / "loop.json").read_text())
    provenance = json.loads((model / "harness-train.json").read_text())
    assert "base_model: HuggingFaceTB/SmolLM2-135M-Instruct" in card and "license: apache-2.0" in card
    assert "recipe: memphis-rank" in card and "rank_weight: 5.0" in card  # recipe and hyperparameters
    assert (
        str(out / "round-1" / "pairs") in card and "A `pairs` artifact" in card and "task star, model `sha256:" in card
    )  # the data and its making
    assert "Decontamination: not recorded." in card
    assert f"final {provenance['result']['last_loss']:.4f}" in card
    assert f"| {links['rounds'][0]['eval']['accuracy']:.3f} |" in card and "the starting model" in card
    loaded = AutoModelForCausalLM.from_pretrained(target)
    assert loaded.num_parameters() > 100_000_000 and (target / "harness-train.json").is_file()
