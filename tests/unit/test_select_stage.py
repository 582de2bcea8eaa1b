"""`harness select`: best-of-n SFT rows and (correct, incorrect) pairs from a judged artifact."""

from __future__ import annotations

import polars as pl
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from harness.cli import app
from harness.config import ConfigError, JudgeConfig, SelectConfig
from harness.stages.judge import run_judge
from harness.stages.select import run_select
from tasks.star import StarTask
from tests.unit.judged_samples import star_artifact, star_prompt


@pytest.fixture
def judged(tmp_path):
    star_artifact(tmp_path / "star")
    run_judge(JudgeConfig(input=str(tmp_path / "star"), output=str(tmp_path / "judged"), judges=["exact", "math"]))
    return tmp_path / "judged"


def select(judged, mode, **settings):
    out = judged.parent / f"select-{mode}"
    summary = run_select(SelectConfig(mode=mode, input=str(judged), output=str(out), **settings))
    return summary, pl.read_parquet(out / "*.parquet")


def test_pairs_match_stars_own_pairs_artifact(judged):
    summary, pairs = select(judged, "pairs", judge="exact")
    assert summary.rows == 2 and summary.questions == 2
    samples = pl.read_parquet(judged.parent / "star" / "*.parquet").to_dicts()
    expected = [
        p
        for rid in dict.fromkeys(s["record_id"] for s in samples)
        for p in StarTask().pairs([s for s in samples if s["record_id"] == rid])
    ]
    common = [
        "record_id",
        "source_index",
        "pair_idx",
        "question",
        "reference",
        "prompt",
        "chosen",
        "rejected",
        "chosen_sample_idx",
        "rejected_sample_idx",
    ]
    assert pairs.select(common).to_dicts() == [{k: p[k] for k in common} for p in expected]
    first = pairs.row(0, named=True)
    # One question: a correct answer given twice is used once; the broken sample is left out (invalid).
    assert first["chosen"].endswith("43") and first["rejected"].endswith("42")
    assert first["prompt"] == star_prompt(first["question"])
    assert (first["parent_id"], first["chosen_candidate_idx"], first["rejected_candidate_idx"]) == (
        first["record_id"],
        0,
        1,
    )
    assert (first["chosen_score"], first["rejected_score"], first["judge"]) == (1.0, 0.0, "exact")


def test_best_of_n_writes_sft_conversations_linked_to_their_rows(judged):
    summary, best = select(judged, "best-of-n", judge="math")
    assert summary.rows == 2 and best.height == 2
    row = best.row(0, named=True)
    assert row["parent_candidate_idx"] == 0 and row["score"] == 1.0 and row["candidates"] == 4
    assert [m["role"] for m in row["messages"]] == ["user", "assistant"]  # star has no system turn
    assert row["messages"][0]["content"] == star_prompt(pl.read_parquet(judged / "*.parquet")["question"][0])
    assert row["messages"][1]["content"] == "Divide by one.\n### Answer: 43"
    assert row["parent_id"] == row["record_id"]


def test_min_score_and_empty_results_keep_a_loadable_folder(judged):
    summary, best = select(judged, "best-of-n", judge="exact", min_score=2.0)
    assert summary.rows == 0 and summary.without_row == 2 and best.height == 0
    assert "messages" in best.columns  # the empty shard carries the schema


def test_a_rerun_adds_nothing(judged):
    select(judged, "pairs", judge="exact")
    summary, pairs = select(judged, "pairs", judge="exact")
    assert summary.rows == 0 and summary.skipped == 2 and pairs.height == 2


def test_the_judge_must_be_named_when_there_are_several(judged):
    with pytest.raises(ConfigError, match="name the judge"):
        select(judged, "pairs")
    with pytest.raises(ConfigError, match="no judge_score_score"):
        select(judged, "pairs", judge="score")


def test_cli_select(judged):
    out = judged.parent / "cli-pairs"
    result = CliRunner().invoke(app, ["select", "pairs", "-i", str(judged), "-o", str(out), "--judge", "exact"])
    assert result.exit_code == 0, result.output
    assert pq.read_table(out).num_rows == 2
    bad = CliRunner().invoke(app, ["select", "worst", "-i", str(judged), "-o", str(out)])
    assert bad.exit_code == 2 and "error:" in bad.output
