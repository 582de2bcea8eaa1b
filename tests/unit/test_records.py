"""harness/artifacts/schemas.py: declared schemas, strict table building, verdict columns."""

from __future__ import annotations

import re

import pyarrow as pa
import pytest

from harness.artifacts.schemas import MESSAGES, VERDICT, Verdict, to_table, traces_schema, verdict_fields
from tasks.backfill import BackfillTask

TASK_FIELDS = [pa.field("question", pa.string()), pa.field("answer", pa.string())]

EXPECTED_COLUMNS = [
    # identity
    ("record_id", pa.string(), False),
    ("parent_id", pa.string(), True),
    ("source_index", pa.int64(), False),
    ("sample_idx", pa.int32(), False),
    ("task", pa.string(), False),
    ("task_version", pa.string(), False),
    ("template_hash", pa.string(), False),
    # the task's own
    ("question", pa.string(), True),
    ("answer", pa.string(), True),
    # generation
    ("completion", pa.string(), True),
    ("finish_reason", pa.string(), True),
    ("prompt_tokens", pa.int32(), True),
    ("completion_tokens", pa.int32(), True),
    # validation
    ("valid", pa.bool_(), False),
    ("rejection_reason", pa.string(), True),
    ("verdicts", pa.list_(VERDICT), False),
]


def row(**changes) -> dict[str, object]:
    base = {
        "record_id": "abc",
        "parent_id": None,
        "source_index": 0,
        "sample_idx": 0,
        "task": "t",
        "task_version": "1",
        "template_hash": "0123456789abcdef",
        "question": "q",
        "answer": "a",
        "completion": "c",
        "finish_reason": "stop",
        "prompt_tokens": 3,
        "completion_tokens": 4,
        "valid": True,
        "rejection_reason": None,
        "verdicts": [{"name": "x", "passed": True, "reason": "ok"}],
    }
    return {**base, **changes}


# -- traces_schema -------------------------------------------------------------------------------------------
def test_traces_schema_declares_every_field_in_order():
    schema = traces_schema(TASK_FIELDS)
    assert [(f.name, f.type, f.nullable) for f in schema] == EXPECTED_COLUMNS


def test_traces_schema_for_backfill_has_the_messages_column():
    schema = traces_schema(BackfillTask.fields)
    assert schema.names[7:11] == ["instruction", "solution", "trace", "messages"]
    assert schema.field("messages").type == MESSAGES
    assert pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())])) == MESSAGES
    assert pa.struct([("name", pa.string()), ("passed", pa.bool_()), ("reason", pa.string())]) == VERDICT


def test_traces_schema_refuses_task_columns_that_clash():
    clash = [pa.field("valid", pa.string()), pa.field("record_id", pa.string()), pa.field("ok", pa.string())]
    with pytest.raises(
        ValueError, match=re.escape("task columns clash with the harness's own: ['record_id', 'valid']")
    ):
        traces_schema(clash)


# -- to_table ------------------------------------------------------------------------------------------------
def test_to_table_builds_exactly_the_schema():
    schema = traces_schema(TASK_FIELDS)
    table = to_table([row(), row(record_id="def", valid=False, rejection_reason="x: y")], schema)
    assert table.schema == schema
    assert table.num_rows == 2
    assert table.column("record_id").to_pylist() == ["abc", "def"]


def test_to_table_fills_absent_nullable_columns_with_null():
    schema = traces_schema(TASK_FIELDS)
    partial = row()
    del partial["completion"], partial["prompt_tokens"]
    table = to_table([partial], schema)
    assert table.column("completion").to_pylist() == [None]
    assert table.column("prompt_tokens").to_pylist() == [None]


def test_to_table_of_no_rows_is_an_empty_table_with_the_schema():
    schema = traces_schema(TASK_FIELDS)
    table = to_table([], schema)
    assert table.num_rows == 0 and table.schema == schema


@pytest.mark.parametrize(
    ("column", "value", "type_text"),
    [
        ("source_index", "3", "int64"),
        ("sample_idx", "zero", "int32"),
        ("prompt_tokens", "many", "int32"),
        ("question", 3, "string"),
        ("answer", ["a"], "string"),
        ("valid", "yes", "bool"),
        ("verdicts", [{"name": "x", "passed": "no", "reason": "r"}], "list<item: struct<name: string"),
        ("verdicts", "not a list", "list<item: struct<name: string"),
    ],
)
def test_to_table_names_the_column_that_does_not_fit(column, value, type_text):
    schema = traces_schema(TASK_FIELDS)
    with pytest.raises(ValueError, match=rf"^column {column!r} does not fit {re.escape(type_text)}"):
        to_table([row(), row(**{column: value})], schema)


def test_to_table_names_the_messages_column():
    schema = traces_schema(BackfillTask.fields)
    bad = {**row(), "instruction": "i", "solution": "s", "trace": "t", "messages": [{"role": 1, "content": "x"}]}
    del bad["question"], bad["answer"]
    with pytest.raises(ValueError, match=r"^column 'messages' does not fit list<item: struct<role: string"):
        to_table([bad], schema)


def test_to_table_rejects_unknown_columns():
    schema = traces_schema(TASK_FIELDS)
    with pytest.raises(ValueError, match=re.escape("rows carry columns not in the schema: ['extra', 'zzz']")):
        to_table([row(), row(extra=1, zzz="z")], schema)


@pytest.mark.parametrize("column", ["record_id", "valid", "verdicts"])
def test_to_table_rejects_null_in_a_required_column(column):
    schema = traces_schema(TASK_FIELDS)
    with pytest.raises(ValueError, match=rf"column {column!r}"):
        to_table([row(**{column: None})], schema)


def test_to_table_rejects_a_fractional_token_count():
    schema = traces_schema(TASK_FIELDS)
    with pytest.raises(ValueError, match="column 'prompt_tokens'"):
        to_table([row(prompt_tokens=1.5)], schema)


# -- verdicts ------------------------------------------------------------------------------------------------
def test_verdict_to_dict():
    assert Verdict("markers", False, "why").to_dict() == {"name": "markers", "passed": False, "reason": "why"}


def test_verdict_fields_all_passed():
    verdicts = [Verdict("a", True, "ok"), Verdict("b", True, "fine")]
    assert verdict_fields(verdicts) == {
        "valid": True,
        "rejection_reason": None,
        "verdicts": [
            {"name": "a", "passed": True, "reason": "ok"},
            {"name": "b", "passed": True, "reason": "fine"},
        ],
    }


def test_verdict_fields_reports_the_first_failure_and_keeps_all_verdicts():
    verdicts = [Verdict("a", True, "ok"), Verdict("b", False, "bad b"), Verdict("c", False, "bad c")]
    fields = verdict_fields(verdicts)
    assert fields["valid"] is False
    assert fields["rejection_reason"] == "b: bad b"
    assert [v["name"] for v in fields["verdicts"]] == ["a", "b", "c"]


def test_verdict_fields_fit_the_schema():
    schema = traces_schema(TASK_FIELDS)
    fields = verdict_fields([Verdict("a", False, "why")])
    table = to_table([row(**fields)], schema)
    assert table.column("verdicts").to_pylist() == [[{"name": "a", "passed": False, "reason": "why"}]]
    assert table.column("rejection_reason").to_pylist() == ["a: why"]
