"""`harness synth --task structured` end to end through the real transformers engine on the default model.

The default model is far too small to follow the card's format in 24 tokens: these tests check the pipeline
(prompts, input checks, verdicts, columns, provenance), not accuracy.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from harness.artifacts.writer import read_provenance
from judges.structured_format import RULES
from tests.integration.test_synth_cli import read
from tests.integration.test_synth_cli import synth as run_cli

pytestmark = pytest.mark.slow

FIXTURE = Path(__file__).parents[1] / "fixtures" / "structured_mc.jsonl"
FAST = ["--max-tokens", "24", "--batch-size", "8", "--threads", "1"]
RULE_NAMES = [rule.__name__ for rule in RULES]


def synth(*args: str) -> subprocess.CompletedProcess:
    return run_cli("--task", "structured", *args)


def test_structured_end_to_end(tmp_path, default_model):
    out = tmp_path / "run"
    result = synth("--input", str(FIXTURE), "--output", str(out), "--n", "2", *FAST)
    assert result.stdout.strip() == str(out)
    assert "synth summary" in result.stderr

    df = read(out)
    assert df["source_index"].to_list() == [0, 0, 1, 1, 2, 2, 3, 3, 4]  # the bad row: one rejected row
    generated = df.filter(pl.col("completion").is_not_null())
    assert generated.height == 8
    assert generated["gold_option"].to_list() == [2, 2, 2, 2, 3, 3, 3, 3]  # index 1, "B", "3", index 2
    assert (generated["completion_tokens"] <= 24).all() and (generated["prompt_tokens"] > 300).all()
    for row in generated.iter_rows(named=True):
        assert [v["name"] for v in row["verdicts"]] == RULE_NAMES
        assert row["valid"] == all(v["passed"] for v in row["verdicts"])
        assert row["choices"] and row["question"]
        if not row["valid"]:
            assert row["messages"] is None and row["rejection_reason"]

    rejected = df.row(8, named=True)
    assert rejected["completion"] is None and not rejected["valid"]
    assert rejected["rejection_reason"].startswith("input_answer: 5 is not an option of 1..2")
    assert rejected["choices"] == ["yes", "no"]

    provenance = read_provenance(sorted(out.glob("*.parquet"))[0])
    assert provenance["task"] == "structured"
    assert (provenance["sampling"]["temperature"], provenance["sampling"]["top_p"]) == (0.8, 0.95)


def test_parquet_input_with_mapped_columns(tmp_path):
    rows = [
        {"prompt": "What is 2 + 2?", "options": ["3", "4", "5"], "label": 1, "id": "a"},
        {"prompt": "What is the capital of France?", "options": ["Paris", "Rome"], "label": 0, "id": "b"},
    ]
    schema = pa.schema(
        [("prompt", pa.string()), ("options", pa.list_(pa.string())), ("label", pa.int64()), ("id", pa.string())]
    )
    source = tmp_path / "mc.parquet"
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), source)
    out = tmp_path / "run"
    flags = ["--col", "question=prompt", "--col", "choices=options", "--col", "answer=label"]
    synth("--input", str(source), "--output", str(out), *flags, "--temperature", "0", *FAST)
    df = read(out)
    assert df["question"].to_list() == ["What is 2 + 2?", "What is the capital of France?"]
    assert df["choices"].to_list() == [["3", "4", "5"], ["Paris", "Rome"]]
    assert df["gold_option"].to_list() == [2, 1]
    assert df["completion"].null_count() == 0
