"""`harness rescore` SIGKILLed mid-run, then run again: the output equals an unkilled run's, no row lost or twice,
and the flip table counts every row once. And the change rescore exists for: structured rows stored by the old
`correct` (which took `<output>2. Mercury</output>` as option 2) flip pass -> fail under today's (issue 23)."""

from __future__ import annotations

import json
import sys

import pyarrow.parquet as pq

from harness.artifacts.sources import open_source
from harness.config import RescoreConfig
from harness.stages.rescore import run_rescore
from harness.stages.synth import bundled_sample
from tasks.structured import StructuredTask
from tests.integration.sigkill import assert_every_shard_committed, sigkill_after_commits
from tests.unit.judged_samples import star_artifact, task_row, write_task_artifact
from tests.unit.structured_samples import ROW, completion

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


def test_structured_rows_stored_by_the_old_correct_flip_under_today_s(tmp_path, default_model):
    """The default model's tokenizer counts the sections, as synth's structured task does by default."""
    task = StructuredTask()
    outputs = ["2", "2. Mercury", "The answer is 2", "3"]
    rows = [task_row(task, f"r{i}", i, ROW, 0, completion(output=out)) for i, out in enumerate(outputs)]
    for row in rows[1:3]:  # as the task's version 1 stored them: an option number read anywhere in <output>
        row["correct"] = True
        row["verdicts"] = [{**v, "passed": True} if v["name"] == "correct" else v for v in row["verdicts"]]
    source = open_source(str(bundled_sample()), {})
    write_task_artifact(tmp_path / "old", rows, source, task)
    summary = run_rescore(RescoreConfig(input=str(tmp_path / "old"), output=str(tmp_path / "new")))
    for key in ("correct", "verdicts[correct]"):
        assert summary.verdicts[key]["pass_to_fail"] == 2 and summary.verdicts[key]["fail_to_pass"] == 0
        assert summary.verdicts[key]["examples"]["pass_to_fail"] == ["r1", "r2"]
    unchanged = {k: v for k, v in summary.verdicts.items() if k not in ("correct", "verdicts[correct]", "valid")}
    assert unchanged and all(v["pass_to_fail"] + v["fail_to_pass"] + v["other"] == 0 for v in unchanged.values())
