"""Declared pyarrow schemas for every artifact kind, and the verdict record.

Schemas are built up front from these field lists (never inferred from the first record), so a row that
does not fit fails loudly, and an output folder written with another schema is refused before any
model runs.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

VERDICT = pa.struct([("name", pa.string()), ("passed", pa.bool_()), ("reason", pa.string())])
MESSAGE = pa.struct([("role", pa.string()), ("content", pa.string())])
MESSAGES = pa.list_(MESSAGE)

# Identity and lineage: which source row, which sample, produced by which task and prompt template.
IDENTITY_FIELDS = [
    pa.field("record_id", pa.string(), nullable=False),  # stable hash of the source row
    pa.field("parent_id", pa.string()),  # the input row's own record_id when the input is an artifact
    pa.field("source_index", pa.int64(), nullable=False),  # row number in the input
    pa.field("sample_idx", pa.int32(), nullable=False),
    pa.field("task", pa.string(), nullable=False),
    pa.field("task_version", pa.string(), nullable=False),
    pa.field("template_hash", pa.string(), nullable=False),
]

# What the engine returned, raw, before any parsing.
GENERATION_FIELDS = [
    pa.field("completion", pa.string()),
    pa.field("finish_reason", pa.string()),
    pa.field("prompt_tokens", pa.int32()),
    pa.field("completion_tokens", pa.int32()),
]

# Every row says whether it is usable and why not; rows are never dropped silently.
VALIDATION_FIELDS = [
    pa.field("valid", pa.bool_(), nullable=False),
    pa.field("rejection_reason", pa.string()),  # the first failed verdict's reason, null when valid
    pa.field("verdicts", pa.list_(VERDICT), nullable=False),
]


@dataclass(frozen=True)
class Verdict:
    name: str
    passed: bool
    reason: str

    def to_dict(self) -> dict[str, object]:
        return {"name": self.name, "passed": self.passed, "reason": self.reason}


def verdict_fields(verdicts: list[Verdict]) -> dict[str, object]:
    """The validation columns for a row: valid only when every verdict passed."""
    failed = next((v for v in verdicts if not v.passed), None)
    return {
        "valid": failed is None,
        "rejection_reason": None if failed is None else f"{failed.name}: {failed.reason}",
        "verdicts": [v.to_dict() for v in verdicts],
    }


def traces_schema(task_fields: list[pa.Field]) -> pa.Schema:
    """The schema of a `harness synth` artifact: identity, the task's own columns, generation, validation."""
    fields = IDENTITY_FIELDS + task_fields + GENERATION_FIELDS + VALIDATION_FIELDS
    names = [f.name for f in fields]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise ValueError(f"task columns clash with the harness's own: {duplicated}")
    return pa.schema(fields)


# One row per evaluated question (`harness eval mmlu`): what was asked, what lm-eval scored, the verdicts.
EVAL_FIELDS = [
    pa.field("record_id", pa.string(), nullable=False),  # stable hash of the question and its place in its subject
    pa.field("id", pa.string(), nullable=False),  # subject/NNNN in the dataset
    pa.field("subject", pa.string(), nullable=False),
    pa.field("group", pa.string(), nullable=False),  # lm-eval's group: stem, humanities, social_sciences, other
    pa.field("section", pa.string(), nullable=False),  # the seed card's: College, Professional, High School, Other
    pa.field("mode", pa.string(), nullable=False),  # loglikelihood, cloze or generative
    pa.field("lm_eval_task", pa.string(), nullable=False),
    pa.field("question", pa.string(), nullable=False),
    pa.field("choices", pa.list_(pa.string()), nullable=False),
    pa.field("gold", pa.int32(), nullable=False),  # index of the right choice
    pa.field("prompt", pa.string(), nullable=False),  # the exact text lm-eval gave the model
    pa.field("prediction", pa.int32()),  # index of the chosen choice; null when no answer could be parsed
    pa.field("correct", pa.bool_(), nullable=False),
    pa.field("choice_logprobs", pa.list_(pa.float64())),  # loglikelihood/cloze: log P(choice | prompt)
    pa.field("completion", pa.string()),  # generative: the generated text
    pa.field("completion_tokens", pa.int32()),  # generative: its length in the model's tokens
]


def eval_schema() -> pa.Schema:
    """The schema of a `harness eval` artifact: the question, lm-eval's scoring, and format verdicts
    (generative mode; `valid` means every format verdict passed, and is true when there are none)."""
    return pa.schema(EVAL_FIELDS + VALIDATION_FIELDS)


def to_table(rows: list[dict[str, object]], schema: pa.Schema) -> pa.Table:
    """Build a table with exactly `schema`; a row that does not fit names its column."""
    extra = {k for row in rows for k in row} - set(schema.names)
    if extra:
        raise ValueError(f"rows carry columns not in the schema: {sorted(extra)}")
    for field in schema:
        values = [row.get(field.name) for row in rows]
        if not field.nullable and any(v is None for v in values):
            raise ValueError(f"column {field.name!r} is declared not-null but a row has no value")
        if pa.types.is_integer(field.type) and any(v is not None and not isinstance(v, int) for v in values):
            bad = next(v for v in values if v is not None and not isinstance(v, int))
            raise ValueError(f"column {field.name!r} does not fit {field.type}: expected an integer, got {bad!r}")
    try:
        return pa.Table.from_pylist(rows, schema=schema)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as err:
        for name in schema.names:
            try:
                pa.array([row.get(name) for row in rows], type=schema.field(name).type)
            except (pa.ArrowInvalid, pa.ArrowTypeError) as col_err:
                raise ValueError(f"column {name!r} does not fit {schema.field(name).type}: {col_err}") from err
        raise
