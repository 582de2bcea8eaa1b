"""`harness synth` on the transformers engine (the session's, lent to the stage): a row far past the model's
context becomes one failed row with its reason while the others run, and a seeded run writes the same tokens
at --batch-size 8 as at 1 (a row's batch-mates do not change it: resumed and Ray runs batch differently)."""

from __future__ import annotations

import io
import json

import polars as pl
import pytest
from rich.console import Console

from harness.cli.synth import summary_table
from harness.config import SynthConfig
from harness.stages.synth import run_synth
from tests.integration.borrowed_engine import lend_engine

pytestmark = pytest.mark.slow


def rendered(table) -> str:
    console = Console(width=400, record=True, file=io.StringIO())
    console.print(table)
    return console.export_text()


def synth_config(tmp_path, name: str, source: str, limit: int, **sampling) -> SynthConfig:
    cfg = SynthConfig(task="backfill", input=source, output=str(tmp_path / name), limit=limit, cache=False)
    for key, value in {"max_tokens": 4, **sampling}.items():
        setattr(cfg.sampling, key, value)
    return cfg


def test_a_row_past_the_context_fails_alone_and_the_run_goes_on(tmp_path, engine, monkeypatch):
    lend_engine(monkeypatch, engine, "transformers")
    source = tmp_path / "in.jsonl"
    rows = [("What is 2 + 3?", "5"), ("Add: " + "1 + " * 3_000_000, "?"), ("What is 7 * 6?", "42")]  # 12M chars
    source.write_text("".join(json.dumps({"instruction": i, "solution": s}) + "\n" for i, s in rows))
    summary = run_synth(synth_config(tmp_path, "out", str(source), limit=3))
    # counted apart from engine errors: a rerun would fail it again, so the summary does not advise one
    assert summary.rows_out == 3 and (summary.context_overflows, summary.engine_errors) == (1, 0)
    lines = rendered(summary_table(summary))
    assert "past the context" in lines and "lower --max-tokens" in lines and "engine errors" not in lines, lines
    df = pl.read_parquet(tmp_path / "out" / "*.parquet").sort("source_index")
    assert df["finish_reason"].to_list()[0] in ("stop", "length") and df["finish_reason"][2] in ("stop", "length")
    assert df["finish_reason"][1] == "error" and df["completion"][1] is None
    reason = df["rejection_reason"][1]
    assert reason.startswith("context_overflow: prompt too long for the context") and "8192 tokens" in reason, reason
    # final: the same command again asks nothing (it would fail the same way) and changes no row
    again = run_synth(synth_config(tmp_path, "out", str(source), limit=3))
    assert (again.rows_in, again.retried_rows, again.artifact_rows) == (0, 0, 3)
    assert pl.read_parquet(tmp_path / "out" / "*.parquet").sort("source_index").equals(df)


def test_seeded_rows_are_the_same_at_batch_size_8_and_1(tmp_path, engine, monkeypatch):
    lend_engine(monkeypatch, engine, "transformers")
    runs = {}
    for batch in (8, 1):
        monkeypatch.setattr(engine, "batch_size", batch)  # what --batch-size sets on the engine it builds
        run_synth(synth_config(tmp_path, f"b{batch}", "sample", limit=4, seed=5, temperature=1.0))
        df = pl.read_parquet(tmp_path / f"b{batch}" / "*.parquet").sort("source_index")
        runs[batch] = df["completion"].to_list()
    assert len(set(runs[8])) > 1 and runs[8] == runs[1]
