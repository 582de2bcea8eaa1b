"""`harness judge` with an LLM judge, killed with SIGKILL mid-run, then run again: every judged row exactly
once, and the calibration summary counts every row once (it sums the committed shards' own tallies)."""

from __future__ import annotations

import os
import subprocess
import sys

import polars as pl
import pytest

from judges.judge_parsing import parse_score
from judges.judge_prompts import fence
from tests.integration.sigkill import assert_every_shard_committed, committed_rows, sigkill_after_commits
from tests.unit.judged_samples import read_summary, star_artifact

pytestmark = pytest.mark.slow

QUESTIONS = 10
# Two answers per question, a right-looking one and a wrong one: a score request each.
ANSWERS = {i: [f"Work it out.\n### Answer: {i}", f"Guess.\n### Answer: {i + 1}"] for i in range(QUESTIONS)}
ROWS = 2 * QUESTIONS


def test_sigkill_mid_judge_then_resume_loses_and_duplicates_nothing(tmp_path, default_model):
    star_artifact(tmp_path / "star", ANSWERS)
    out = tmp_path / "judged"
    command = [
        *(sys.executable, "-m", "harness.cli", "judge"),
        *("--input", str(tmp_path / "star"), "--output", str(out)),
        *("--judge", "score", "--col", "response=completion", "--max-tokens", "8"),
        *("--batch-size", "1"),  # a shard per question: the kill lands between commits
    ]
    killed_rows = sigkill_after_commits(command, out, commits=2)
    assert 4 <= killed_rows < ROWS and killed_rows % 2 == 0  # whole questions only

    wide = {**os.environ, "COLUMNS": "200"}  # the summary table on one line per entry
    rerun = subprocess.run(command, capture_output=True, text=True, env=wide, timeout=600)
    assert rerun.returncode == 0, rerun.stderr
    assert f"{ROWS - killed_rows} rows of {QUESTIONS - killed_rows // 2} questions" in rerun.stderr
    assert f"{killed_rows} rows were already judged" in rerun.stderr

    df = pl.read_parquet(out / "*.parquet")
    keys = df.select("record_id", "sample_idx")
    assert keys.height == ROWS and keys.n_unique() == ROWS  # every (record_id, sample_idx) exactly once
    source = pl.read_parquet(tmp_path / "star" / "*.parquet").select("record_id", "sample_idx")
    assert keys.sort(keys.columns).equals(source.sort(source.columns))
    assert committed_rows(out) == ROWS
    assert_every_shard_committed(out)

    score = read_summary(out)["score"]
    assert (score["rows"], score["requests"]) == (ROWS, ROWS)  # one request per row, over both runs
    assert score["scored"] + score["unparsable"] == ROWS
    assert sum(score["score_histogram"].values()) == score["scored"] == df["judge_score_score"].count()
    for row in df.iter_rows(named=True):  # the killed run's rows and the rerun's, read the same way
        parsed = parse_score(row["judge_score_output"], [fence(row["completion"])], 1, 10)
        assert (row["judge_score_score"], row["judge_score_reason"]) == (parsed.value, parsed.reason)
