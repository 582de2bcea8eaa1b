"""The cost ledger and `--max-cost` on the real transformers engine (the session's default-model engine, lent to
in-process CLI runs): a priced run charges every shard, a budget stops a run early and says how to go on, and
the printed command (then one without a budget) finishes every row exactly once."""

from __future__ import annotations

import json
import re
import shlex
import sys

import polars as pl
import pytest
import yaml
from typer.testing import CliRunner

from harness.artifacts.reader import open_artifact
from harness.artifacts.writer import read_provenance
from harness.cli import app
from harness.cost import BUDGET_EXIT
from tests.integration.borrowed_engine import lend_engine

pytestmark = pytest.mark.slow

ROWS = 4
# Short prompts (some 70 tokens: the engine's time goes into reading the prompt), 4 tokens each.
BRIEF = "Explain briefly."
FAST = ["--task", "backfill", "--limit", str(ROWS), "--max-tokens", "4", "--system-prompt", BRIEF]
ONE_AT_A_TIME = ["--window", "1", "--shard-rows", "1"]  # each record its own shard: the budget's steps are exact


@pytest.fixture
def sums(tmp_path):
    path = tmp_path / "sums.jsonl"
    rows = [{"instruction": f"What is {i} + {i + 2}?", "solution": str(2 * i + 2)} for i in range(ROWS)]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return str(path)


def harness(argv: list[str], monkeypatch):
    monkeypatch.setattr(sys, "argv", ["harness", *argv])  # what the budget's advice is made from
    return CliRunner().invoke(app, argv)


def costs(out) -> list[dict]:
    return [read_provenance(p).get("cost") for p in sorted(out.glob("*.parquet"))]


def test_a_priced_run_charges_every_shard_and_its_summary(tmp_path, engine, monkeypatch, sums):
    lend_engine(monkeypatch, engine, "transformers")
    out = tmp_path / "priced"
    prices = ["--price-input", "0.5", "--price-output", "2", "--cost-per-hour", "3.6"]
    result = harness(["synth", *FAST, "-i", sums, "--shard-rows", "2", "--output", str(out), *prices], monkeypatch)
    assert result.exit_code == 0, result.output
    blocks = costs(out)
    assert len(blocks) == 2 and all(b["usd"] > 0 and b["seconds"] > 0 for b in blocks)
    df = pl.read_parquet(out / "*.parquet")
    assert sum(b["prompt_tokens"] for b in blocks) == df["prompt_tokens"].sum()  # fresh work, every token
    assert sum(b["completion_tokens"] for b in blocks) == df["completion_tokens"].sum()
    for b in blocks:
        charged = (b["prompt_tokens"] * 0.5 + b["completion_tokens"] * 2) / 1e6 + b["seconds"] / 1000
        assert b["usd"] == pytest.approx(charged, abs=1e-6)  # seconds are recorded to the millisecond
    assert open_artifact(out).cost["usd"] == pytest.approx(sum(b["usd"] for b in blocks))
    assert "cost" in result.output and "USD" in result.output

    unpriced = tmp_path / "unpriced"
    plain = harness(["synth", *FAST, "-i", sums, "--output", str(unpriced)], monkeypatch)
    assert plain.exit_code == 0 and costs(unpriced) == [None] and "USD" not in plain.output  # no invented figure


def test_max_cost_stops_early_and_the_printed_command_resumes(tmp_path, engine, monkeypatch, sums):
    lend_engine(monkeypatch, engine, "transformers")
    out = tmp_path / "budget"
    # Prompt tokens only, some 70 a record: about 0.2 USD at 3000 per million, so the budget ends the run early.
    argv = ["synth", *FAST, "-i", sums, *ONE_AT_A_TIME, "-o", str(out), "--price-input", "3000", "--max-cost", "0.3"]
    stopped = harness(argv, monkeypatch)
    assert stopped.exit_code == BUDGET_EXIT, stopped.output
    message = " ".join(stopped.output.split())
    assert re.search(r"stopped (before passing|at) --max-cost 0.3 USD: the output has cost 0\.\d+ USD", message)
    assert "left" in message
    done = pl.read_parquet(out / "*.parquet")
    assert 0 < done.height < ROWS
    # Stopped at the budget: the next record is projected at the mean so far, so a dearer one can pass it by
    # the difference (a few tokens' worth here), never by a record.
    assert sum(b["usd"] for b in costs(out)) <= 0.3 * 1.1

    again = shlex.split(message.rsplit("resumes: ", 1)[1])  # the command as printed
    assert again[0] == "harness" and again[again.index("--max-cost") + 1] != "0.3"
    finished = harness(again[1:], monkeypatch)
    assert finished.exit_code in (0, BUDGET_EXIT), finished.output
    assert harness([a for a in argv if a not in ("--max-cost", "0.3")], monkeypatch).exit_code == 0

    df = pl.read_parquet(out / "*.parquet").sort("source_index")
    assert df["source_index"].to_list() == list(range(ROWS)) and df["record_id"].n_unique() == ROWS
    assert all(b["usd"] > 0 for b in costs(out))  # every shard, whichever run wrote it


def test_a_pipeline_stage_stopped_at_its_budget_resumes_once_it_is_raised(tmp_path, engine, monkeypatch, sums):
    lend_engine(monkeypatch, engine, "transformers")
    settings = {"task": "backfill", "input": sums, "limit": 3, "max_tokens": 4, "window": 1, "shard_rows": 1,
                "task_options": {"system_prompt": BRIEF}, "price_input": 3000, "max_cost": 0.3}  # fmt: skip
    spec = {"description": "budget", "stages": [{"name": "gen", "command": "synth", "settings": settings}]}
    path, out = tmp_path / "budget.yaml", tmp_path / "run"
    path.write_text(yaml.safe_dump(spec))
    stopped = harness(["run", str(path), "--output", str(out)], monkeypatch)
    assert stopped.exit_code == BUDGET_EXIT, stopped.output
    message = " ".join(stopped.output.split())
    assert re.search(r"stage gen: stopped (before passing|at) --max-cost 0.3 USD", message)
    assert message.endswith(
        f"raise or remove max_cost in stage gen's settings, then run: harness run {path} --output {out}"
    )
    assert json.loads((out / "pipeline.json").read_text())["stages"][0]["status"] == "running"

    settings["max_cost"] = 10  # a new budget is no new setting: the stage resumes, its rows kept
    path.write_text(yaml.safe_dump(spec))
    finished = harness(["run", str(path), "--output", str(out)], monkeypatch)
    assert finished.exit_code == 0, finished.output
    assert "gen: resuming where it stopped" in finished.output
    df = pl.read_parquet(out / "gen" / "*.parquet")
    assert sorted(df["source_index"]) == [0, 1, 2] and df["record_id"].n_unique() == 3
    [gen] = json.loads((out / "pipeline.json").read_text())["stages"][:1]
    assert gen["status"] == "done" and gen["cost"] == pytest.approx(sum(c["usd"] for c in costs(out / "gen")))
    assert "cost" in (out / "report" / "report.md").read_text()
