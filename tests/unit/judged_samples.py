"""A small star artifact built from the bundled sample's first questions (no model: the samples are written
by hand, as a real synth run lays them out), for the judge and select stages' tests."""

from __future__ import annotations

import json
from pathlib import Path

from harness.artifacts import ArtifactWriter, base_provenance
from harness.backends.base import Completion
from harness.records import to_table, traces_schema, verdict_fields
from harness.sources import open_source
from harness.stages.synth import bundled_sample
from tasks.star import PROMPT, StarTask

# Per question: completions of its samples (a correct one, a wrong one, the correct one again, a broken one).
SAMPLES = {
    0: ["Divide by one.\n### Answer: 43", "Guess.\n### Answer: 42", "Divide by one.\n### Answer: 43", "no answer"],
    5: ["-3 + 63.\n### Answer: 60", "Hmm.\n### Answer: 66"],
}


def star_artifact(folder: Path, samples: dict[int, list[str]] = SAMPLES) -> Path:
    """Write the artifact; return the folder. Its provenance names the bundled sample as its input."""
    task = StarTask()
    sample = bundled_sample()
    source = open_source(str(sample), {"question": "instruction", "answer": "solution"})
    by_index = {row.index: row for row in source.rows() if row.index in samples}
    rows = []
    for index, completions in samples.items():
        row = by_index[index]
        values = {"question": row.values["instruction"], "answer": row.values["solution"]}
        for sample_idx, text in enumerate(completions):
            fields, verdicts = task.parse(values, Completion(text, "stop", 10, 5, sample_idx))
            rows.append(
                {
                    "record_id": row.record_id,
                    "parent_id": None,
                    "source_index": index,
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
            )
    schema = traces_schema(task.fields)
    identity = {"task": task.name, "input": str(sample)}
    provenance = {**base_provenance(), "input": {"label": str(sample), **source.fingerprint}}
    with ArtifactWriter(folder, schema, identity).open({}) as writer:
        writer.commit(to_table(rows, schema), provenance)
    return folder


def star_prompt(question: str) -> str:
    return PROMPT.format(question=question)


def read_summary(folder: Path) -> dict:
    return json.loads((folder / "judge_summary.json").read_text())["judges"]
