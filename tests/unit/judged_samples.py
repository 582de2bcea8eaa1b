"""Small star and backfill artifacts built from the bundled sample's questions (no model: the samples are
written by hand, as a real synth run lays them out), for the judge and select stages' tests. Star sends raw
prompts; backfill sends a chat (system, user) and keeps the conversation in `messages`."""

from __future__ import annotations

import json
from pathlib import Path

from harness.artifacts.schemas import to_table, traces_schema, verdict_fields
from harness.artifacts.sources import Source, open_source
from harness.artifacts.writer import ArtifactWriter, base_provenance
from harness.engines.base import Completion
from harness.stages.synth import bundled_sample
from tasks.backfill import BackfillTask
from tasks.base import Task
from tasks.star import PROMPT, StarTask

# Per question: completions of its samples (a correct one, a wrong one, the correct one again, a broken one).
SAMPLES = {
    0: ["Divide by one.\n### Answer: 43", "Guess.\n### Answer: 42", "Divide by one.\n### Answer: 43", "no answer"],
    5: ["-3 + 63.\n### Answer: 60", "Hmm.\n### Answer: 66"],
}


def star_artifact(folder: Path, samples: dict[int, list[str]] = SAMPLES, **provenance) -> Path:
    """Write the artifact; return the folder. Its provenance names the bundled sample as its input (and holds
    `provenance`'s entries, e.g. the model that wrote it)."""
    return _task_artifact(
        folder, StarTask(), samples, lambda v: {"question": v["instruction"], "answer": v["solution"]}, **provenance
    )


def backfill_artifact(folder: Path, completions: dict[int, list[str]]) -> Path:
    """A backfill artifact: per question (bundled-sample index), the completions of its samples (a trace, then
    `<|thinking_end|>`, for a valid row)."""
    # Short traces are the point of these samples (judging, selecting): no reasoning minimum here.
    task = BackfillTask(min_trace_words=0)
    return _task_artifact(
        folder, task, completions, lambda v: {"instruction": v["instruction"], "solution": v["solution"]}
    )


def _task_artifact(folder: Path, task: Task, samples: dict[int, list[str]], values_of, **provenance) -> Path:
    source = open_source(str(bundled_sample()), {})
    by_index = {row.index: row for row in source.rows() if row.index in samples}
    rows = [
        task_row(task, by_index[index].record_id, index, values_of(by_index[index].values), sample_idx, text)
        for index, completions in samples.items()
        for sample_idx, text in enumerate(completions)
    ]
    write_task_artifact(folder, rows, source, task, **provenance)
    return folder


def star_row(record_id: str, source_index: int, source: dict, sample_idx: int, text: str) -> dict:
    """One star output row for a bundled-sample question and a completion, parsed by the star task."""
    values = {"question": source["instruction"], "answer": source["solution"]}
    return task_row(StarTask(), record_id, source_index, values, sample_idx, text)


def task_row(task: Task, record_id: str, source_index: int, values: dict, sample_idx: int, text: str) -> dict:
    """One output row of `task` for a source row's values and a completion, parsed by the task."""
    fields, verdicts = task.parse(values, Completion(text, "stop", 10, 5, sample_idx))
    return {
        "record_id": record_id,
        "parent_id": None,
        "source_index": source_index,
        "sample_idx": sample_idx,
        "task": task.name,
        "task_version": task.version,
        "template_hash": task.template_hash(),
        **fields,
        "completion": text,
        "finish_reason": "stop",
        "prompt_tokens": 10,
        "completion_tokens": 5,
        **verdict_fields(verdicts),
    }


def write_star_artifact(folder: Path, rows: list[dict], source: Source, shard_rows: int = 4096) -> None:
    """The rows as a star artifact whose provenance names `source` as the synth run's input."""
    write_task_artifact(folder, rows, source, StarTask(), shard_rows)


def write_task_artifact(
    folder: Path, rows: list[dict], source: Source, task: Task, shard_rows: int = 4096, **provenance_extra
) -> None:
    """The rows as `task`'s artifact whose provenance names `source` as the synth run's input."""
    schema = traces_schema(task.fields)
    provenance = {**base_provenance(), "task": task.name, "input": {"label": source.label, **source.fingerprint}}
    provenance.update(provenance_extra)
    with ArtifactWriter(folder, schema, {"task": task.name, "input": source.label}).open({}) as writer:
        for start in range(0, len(rows), shard_rows):
            writer.commit(to_table(rows[start : start + shard_rows], schema), provenance)


def star_prompt(question: str) -> str:
    return PROMPT.format(question=question)


def read_summary(folder: Path) -> dict:
    return json.loads((folder / "judge_summary.json").read_text())["judges"]
