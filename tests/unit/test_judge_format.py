"""`harness judge --judge format` gives synth's verdict and rescore's (issue 23, item 1): the task's `parse` again,
with the options of the synth run that made the rows, found up the artifacts they were passed on through; two-step
rows with their first step rebuilt. Real judge, decontam and rescore runs on stored rows (written by hand, as a
synth run lays them out; no model)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from harness.artifacts.schemas import verdict_fields
from harness.artifacts.sources import open_source
from harness.config import ConfigError, JudgeConfig
from harness.engines.base import Completion
from harness.stages.judge import run_judge
from harness.stages.synth import bundled_sample
from tasks.backfill import BackfillTask
from tasks.base import Task
from tasks.reasoning_token import ReasoningTokenTask
from tasks.thought_variants import ThoughtVariantsTask
from tests.unit.judged_samples import task_row, write_task_artifact
from tests.unit.test_rescore import altered, decontam, flips, rescore, rows


def judge(src: Path, out: Path) -> list[dict]:
    run_judge(JudgeConfig(input=str(src), output=str(out), judges=["format"]))
    return rows(out)


def format_task(folder: Path) -> dict:
    return json.loads((folder / "judge_summary.json").read_text())["format_task"]


def backfill_rows() -> tuple[BackfillTask, list[dict]]:
    """Traces of 7, 1 and 15 words: with `min_trace_words: 5` the first passes, with the defaults' 12 it fails."""
    task = BackfillTask(min_trace_words=5)
    traces = ["Take each number in turn and add.", "Sum.", " ".join(["step"] * 15)]
    values = {"instruction": "Add 1 and 2.", "solution": "3"}
    return task, [task_row(task, f"r{i}", i, values, 0, f"{t}\n<|thinking_end|>\n") for i, t in enumerate(traces)]


def test_format_judges_with_the_options_of_the_synth_run_up_the_inputs(tmp_path):
    task, made = backfill_rows()
    source = open_source(str(bundled_sample()), {})
    write_task_artifact(tmp_path / "synth", made, source, task, task_options={"min_trace_words": 5})
    decontam(tmp_path / "synth", tmp_path / "decontam")
    judged = judge(tmp_path / "decontam", tmp_path / "judged")
    assert [r["judge_format_score"] for r in judged] == [float(r["valid"]) for r in made] == [1.0, 0.0, 1.0]
    assert format_task(tmp_path / "judged") == {
        "task": "backfill", "task_options": {"min_trace_words": 5}, "task_options_from": str(tmp_path / "synth")
    }  # fmt: skip
    assert flips(rescore(tmp_path / "judged", tmp_path / "rescored"))["judge_format"] == (0, 0, 0)

    shutil.rmtree(tmp_path / "synth")  # its options are gone with it: refused, not judged with the defaults
    with pytest.raises(ConfigError, match="no synth run found up the artifacts its rows came from") as refused:
        judge(tmp_path / "decontam", tmp_path / "refused")
    assert str(tmp_path / "synth") in str(refused.value)

    own = tmp_path / "own"  # a user's own Parquet files: no provenance, so the task's defaults (12 words)
    own.mkdir()
    pq.write_table(pa.Table.from_pylist(made), own / "part-00000.parquet")
    assert [r["judge_format_score"] for r in judge(own, tmp_path / "own-judged")] == [0.0, 0.0, 1.0]
    written = format_task(tmp_path / "own-judged")
    assert written["task_options"] == {} and written["task_options_from"].startswith("the task's defaults")


def two_step_row(task: Task, index: int, variant: str, first: Completion, second: Completion) -> dict:
    """One stored row of a two-step record, as synth writes it (completion_tokens: both steps')."""
    values = {"question": f"What is {index} * 7?"}
    fields, verdicts = task.parse(values, second, variant=variant, first=first)
    tokens = first.completion_tokens + second.completion_tokens
    return {
        "record_id": f"q{index}", "parent_id": None, "source_index": index, "sample_idx": 0, "task": task.name,
        "task_version": task.version, "template_hash": task.template_hash(), **fields,
        "completion": second.text, "finish_reason": second.finish_reason, "prompt_tokens": 9,
        "completion_tokens": tokens, **verdict_fields(verdicts),
    }  # fmt: skip


STEPS = [  # (first, second): both fine, a budget hit in each step, an empty answer
    (Completion("Seven sixes.", "stop", 9, 3), Completion(" 42 ", "stop", 20, 2)),
    (Completion("  add them\n", "length", 9, 8), Completion("42", "stop", 20, 1)),
    (Completion("Seven sixes.", "stop", 9, 3), Completion("forty", "length", 20, 3)),
    (Completion("\n", "stop", 9, 1), Completion("  ", "stop", 20, 1)),
]


@pytest.mark.parametrize(
    ("task", "options"),
    [(ReasoningTokenTask(max_answer_tokens=3), {"max_answer_tokens": 3}),
     (ThoughtVariantsTask(variants="ab", max_answer_tokens=3), {"variants": "ab", "max_answer_tokens": 3})],
)  # fmt: skip
def test_two_step_rows_judge_format_as_synth_and_rescore_give_them(tmp_path, task, options):
    """The judge re-runs `parse` (its first step rebuilt), never repeats the stored verdict: a row whose stored
    verdict was altered is judged as rescore gives it today, the others as synth gave them."""
    variant = "a" if task.name == "thought-variants" else ""
    made = [two_step_row(task, i, variant, first, second) for i, (first, second) in enumerate(STEPS)]
    source = open_source(str(bundled_sample()), {})
    write_task_artifact(tmp_path / "synth", made, source, task, task_options=options)
    judged = judge(tmp_path / "synth", tmp_path / "judged")
    for row, out in zip(made, judged, strict=True):
        failed = next((v for v in row["verdicts"] if not v["passed"]), None)
        assert out["judge_format_score"] == float(row["valid"])
        passed = f"{len(row['verdicts'])} verdict(s) passed"
        assert out["judge_format_reason"] == (f"{failed['name']}: {failed['reason']}" if failed else passed)
    assert any("3-token budget" in r["judge_format_reason"] or "(3 tokens)" in r["judge_format_reason"] for r in judged)
    assert flips(rescore(tmp_path / "judged", tmp_path / "rescored"))["judge_format"] == (0, 0, 0)

    def stale(i: int, row: dict) -> dict:  # stored by an older parse: the failing rows said valid
        return {**row, "valid": True, "rejection_reason": None} if i == 3 else row

    altered(tmp_path / "synth", tmp_path / "stale", stale)
    judged = judge(tmp_path / "stale", tmp_path / "stale-judged")
    rescore(tmp_path / "stale", tmp_path / "stale-rescored")
    rescored = rows(tmp_path / "stale-rescored")
    assert [r["judge_format_score"] for r in judged] == [float(r["rescored_valid"]) for r in rescored]
    assert judged[3]["judge_format_score"] == 0.0 and rescored[3]["valid"] is True
