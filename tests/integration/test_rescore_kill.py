"""`harness rescore` SIGKILLed mid-run, then run again: the output equals an unkilled run's, no row lost or twice,
and the flip table counts every row once."""

from __future__ import annotations

import json
import sys

import pyarrow.parquet as pq

from harness.artifacts.sources import open_source
from harness.config import RescoreConfig
from harness.stages.rescore import run_rescore
from harness.stages.synth import bundled_sample
from tests.integration.sigkill import assert_every_shard_committed, sigkill_after_commits
from tests.unit.judged_samples import star_artifact

SAMPLES = 40  # per question of the bundled sample: 4,800 rows, 48 shards of 100


def test_a_killed_rescore_resumes_to_the_unkilled_output(tmp_path):
    golds = {row.index: row.values["solution"] for row in open_source(str(bundled_sample()), {}).rows()}
    answers = {i: [f"Work.\n### Answer: {gold if k % 3 else gold + '0'}" for k in range(SAMPLES)] for i, gold in golds.items()}  # fmt: skip
    star = star_artifact(tmp_path / "star", answers)
    unkilled, killed = tmp_path / "unkilled", tmp_path / "killed"
    run_rescore(RescoreConfig(input=str(star), output=str(unkilled), batch_size=100))
    command = [
        sys.executable,
        "-m",
        "harness.cli",
        "rescore",
        "-i",
        str(star),
        "-o",
        str(killed),
        "--batch-size",
        "100",
    ]
    rows = sigkill_after_commits(command, killed, commits=3)
    assert 0 < rows < 4_800
    summary = run_rescore(RescoreConfig(input=str(star), output=str(killed), batch_size=100))
    assert summary.skipped == rows and summary.rows == 4_800 - rows
    assert_every_shard_committed(killed)
    got, want = (pq.read_table(sorted(p.glob("*.parquet"))).replace_schema_metadata(None) for p in (killed, unkilled))
    assert got.num_rows == 4_800 and got.equals(want)
    flips = json.loads((killed / "rescore.json").read_text())["verdicts"]
    assert flips == json.loads((unkilled / "rescore.json").read_text())["verdicts"]
    assert flips["valid"]["compared"] == 4_800 and flips["correct"]["pass_to_fail"] == 0
