"""`harness rescore` SIGKILLed mid-run, then run again: the output equals an unkilled run's, no row lost or twice,
and the flip table counts every row once. And the change rescore exists for: structured rows stored by the old
`correct` (which took `<output>2. Mercury</output>` as option 2) flip pass -> fail under today's (issue 23). And
two-step rows (thought-variants, reasoning-token) of a real synth run rescore to the verdicts synth gave them."""

from __future__ import annotations

import json
import re
import shlex
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml
from typer.testing import CliRunner

from harness.artifacts.sources import open_source
from harness.artifacts.writer import ArtifactWriter, read_provenance
from harness.cli import app
from harness.config import ConfigError, JudgeConfig, RescoreConfig, SynthConfig
from harness.stages.judge import run_judge
from harness.stages.rescore import run_rescore
from harness.stages.synth import bundled_sample, run_synth
from tasks.structured import StructuredTask
from tests.integration.borrowed_engine import lend_engine
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


def synth(tmp_path: Path, task: str, options: dict, **sampling) -> Path:
    """A real run of `task` on the bundled sample's first row, greedy, on the session's engine (lent)."""
    out = tmp_path / task
    config = SynthConfig(
        task=task, input="sample", output=str(out), limit=1, task_options=options,
        sampling={"temperature": 0, **sampling},
    )  # fmt: skip
    run_synth(config)
    return out


def assert_rescored_as_stored(folder: Path) -> list[dict]:
    rows = pq.read_table(sorted(folder.glob("*.parquet"))).to_pylist()
    for row in rows:
        assert row["rescored_verdicts"] == row["verdicts"]  # names, passes and reasons (token counts in them)
        assert (row["rescored_valid"], row["rescored_rejection_reason"]) == (row["valid"], row["rejection_reason"])
    return rows


@pytest.mark.slow
def test_two_step_rows_rescore_to_the_verdicts_synth_gave_them(tmp_path, engine, monkeypatch):
    """Both steps' verdicts re-run on rows a real synth run stored (issue 23), the first step rebuilt from its
    columns, by rescore and by `judge --judge format` alike; the answers hit their budget, so reasoning-token's reasons hold the second step's own tokens. An
    artifact whose rows lack a first-step column is refused, naming it and a synth command that works as
    printed; the artifact that command makes rescores."""
    lend_engine(monkeypatch, engine, "transformers")
    runs = {
        "thought-variants": {"variants": "ab", "max_thought_tokens": 4, "max_answer_tokens": 3, "prefix": "closed"},
        "reasoning-token": {"max_answer_tokens": 3},
    }
    for task, options in runs.items():
        stored = synth(tmp_path, task, options, max_tokens=4)
        summary = run_rescore(RescoreConfig(input=str(stored), output=str(tmp_path / f"{task}-rescored")))
        assert summary.rows == len(options.get("variants", "a")) and summary.flipped == 0
        assert summary.verdicts["answer_finished"]["compared"] == summary.rows
        rows = assert_rescored_as_stored(tmp_path / f"{task}-rescored")
        reasons = [v["reason"] for r in rows for v in r["verdicts"] if v["name"] == "answer_finished"]
        assert any("budget" in r for r in reasons), reasons
        judged = tmp_path / f"{task}-judged"  # judge's format verdict is synth's, reasons and all
        run_judge(JudgeConfig(input=str(stored), output=str(judged), judges=["format"]))
        for row in pq.read_table(sorted(judged.glob("*.parquet"))).to_pylist():
            failed = next((f"{v['name']}: {v['reason']}" for v in row["verdicts"] if not v["passed"]), None)
            assert (row["judge_format_score"], row["judge_format_reason"]) == (
                float(row["valid"]), failed or f"{len(row['verdicts'])} verdict(s) passed"
            )  # fmt: skip

    shard = sorted(stored.glob("*.parquet"))[0]  # reasoning-token's, without reasoning_tokens
    table = pq.read_table(shard).drop_columns(["reasoning_tokens"]).replace_schema_metadata(None)
    old = tmp_path / "old"
    config = yaml.safe_load((stored / ".harness" / "config.yaml").read_text())
    with ArtifactWriter(old, table.schema, {"old": True}).open(config) as writer:
        writer.commit(table, read_provenance(shard))
    with pytest.raises(ConfigError, match=r"\['reasoning_tokens'\]") as refused:
        run_rescore(RescoreConfig(input=str(old), output=str(tmp_path / "refused")))
    command = re.search(r"make a new artifact with (harness synth .*?) and rescore that", str(refused.value))
    assert command is not None, refused.value
    argv = shlex.split(command.group(1).replace("NEW_DIR", str(tmp_path / "new")))
    result = CliRunner().invoke(app, argv[1:])  # its completions come from the generation cache
    assert result.exit_code == 0, result.output
    assert run_rescore(RescoreConfig(input=str(tmp_path / "new"), output=str(tmp_path / "rescored"))).flipped == 0
