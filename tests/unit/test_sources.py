"""harness/artifacts/sources.py: every bad input gets one clear InputError; good inputs stream in order with stable ids."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from harness.artifacts import sources
from harness.artifacts.sources import InputError, open_source

REQUIRED = {"instruction": "instruction", "solution": "solution"}
ROWS = [
    {"instruction": "q0", "solution": "a0"},
    {"instruction": "q1 é ✓", "solution": "a1"},
    {"instruction": "q2", "solution": "a2"},
]

running_as_root = pytest.mark.skipif(
    hasattr(os, "geteuid") and os.geteuid() == 0, reason="root can read a chmod 000 file"
)


# -- writers -------------------------------------------------------------------------------------------------
def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def write_csv(path: Path, rows: list[dict]) -> Path:
    import csv

    with open(path, "w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def write_parquet(path: Path, rows: list[dict], schema: pa.Schema | None = None) -> Path:
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), path)
    return path


WRITERS = {"parquet": write_parquet, "jsonl": write_jsonl, "csv": write_csv}


@pytest.fixture(params=sorted(WRITERS))
def fmt(request) -> str:
    return request.param


def make(tmp_path: Path, fmt: str, rows: list[dict] = ROWS, name: str = "data") -> Path:
    return WRITERS[fmt](tmp_path / f"{name}.{fmt}", rows)


def values(source) -> list[dict]:
    return [r.values for r in source.rows()]


# -- whole-input errors, every format ------------------------------------------------------------------------
def test_missing_file(tmp_path, fmt):
    path = tmp_path / f"nope.{fmt}"
    with pytest.raises(InputError, match=rf"^{re.escape(str(path))}: no such file or folder$"):
        open_source(str(path), REQUIRED)


@pytest.mark.parametrize("spec", ["missing.jsonl", "./missing", "~/definitely-missing-harness-input", "a/b/c"])
def test_missing_relative_paths_are_not_taken_for_hub_ids(spec, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InputError, match=rf"^{re.escape(spec)}: no such file or folder$"):
        open_source(spec, REQUIRED)


@running_as_root
def test_unreadable_file(tmp_path, fmt):
    path = make(tmp_path, fmt)
    path.chmod(0)
    try:
        with pytest.raises(
            InputError, match=rf"^{re.escape(str(path))}: .*(cannot read|not a readable).*Permission denied"
        ):
            open_source(str(path), REQUIRED)
    finally:
        path.chmod(0o644)


@pytest.mark.parametrize("text_fmt", ["jsonl", "csv"])
def test_unreadable_text_file_simulated(tmp_path, monkeypatch, text_fmt):
    """The chmod test cannot run as root; fail the open the way the OS would."""
    path = make(tmp_path, text_fmt)

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied", str(args[0]))

    monkeypatch.setattr(sources, "open", refuse, raising=False)
    with pytest.raises(InputError, match=rf"^{re.escape(str(path))}: cannot read \(Permission denied\)$"):
        open_source(str(path), REQUIRED)


def test_corrupt_parquet_file(tmp_path):
    path = tmp_path / "data.parquet"
    path.write_bytes(b"this is not parquet at all")
    with pytest.raises(InputError, match=rf"^{re.escape(str(path))}: not a readable Parquet file \("):
        open_source(str(path), REQUIRED)


def test_empty_parquet_file(tmp_path):
    path = tmp_path / "data.parquet"
    path.write_bytes(b"")
    with pytest.raises(InputError, match=rf"^{re.escape(str(path))}: not a readable Parquet file \("):
        open_source(str(path), REQUIRED)


def test_parquet_with_a_schema_and_no_rows(tmp_path):
    schema = pa.schema([("instruction", pa.string()), ("solution", pa.string())])
    path = write_parquet(tmp_path / "data.parquet", [], schema)
    source = open_source(str(path), REQUIRED)
    assert source.count == 0
    assert values(source) == []


def test_folder_without_parquet_files(tmp_path):
    folder = tmp_path / "empty"
    folder.mkdir()
    write_jsonl(folder / "data.jsonl", ROWS)  # other formats in a folder are not picked up
    with pytest.raises(InputError, match=rf"^{re.escape(str(folder))}: folder has no \*\.parquet files$"):
        open_source(str(folder), REQUIRED)


@pytest.mark.parametrize("suffix", [".txt", ".xlsx", ".PARQUETX", ""])
def test_unknown_suffix(tmp_path, suffix):
    path = tmp_path / f"data{suffix}"
    path.write_text("instruction,solution\nq,a\n")
    with pytest.raises(InputError) as err:
        open_source(str(path), REQUIRED)
    message = str(err.value)
    assert message.startswith(f"{path}: unknown input format {suffix.lower()!r}; expected one of .parquet, .pq, ")
    assert ".jsonl" in message and ".csv" in message and "a hub dataset id" in message


def test_suffix_is_case_insensitive(tmp_path):
    path = write_jsonl(tmp_path / "DATA.JSONL", ROWS)
    assert values(open_source(str(path), REQUIRED)) == ROWS


def test_missing_column_lists_the_columns(tmp_path, fmt):
    path = make(tmp_path, fmt, [{"prompt": "q", "answer": "a"}])
    with pytest.raises(InputError) as err:
        open_source(str(path), REQUIRED)
    assert str(err.value) == f"{path}: column 'instruction' (the instruction) not found; columns are 'prompt', 'answer'"


def test_misspelled_column_suggests_the_close_match(tmp_path, fmt):
    path = make(tmp_path, fmt, [{"instrucion": "q", "solution": "a"}])
    with pytest.raises(InputError) as err:
        open_source(str(path), REQUIRED)
    assert str(err.value) == (
        f"{path}: column 'instruction' (the instruction) not found; columns are 'instrucion', 'solution'; "
        "did you mean 'instrucion' (--col instruction=instrucion)?"
    )


def test_misspelled_mapped_column_names_the_logical_column(tmp_path):
    path = write_jsonl(tmp_path / "d.jsonl", [{"question": "q", "final_answer": "a"}])
    with pytest.raises(InputError) as err:
        open_source(str(path), {"instruction": "question", "solution": "final_answr"})
    assert str(err.value).endswith(
        "column 'final_answr' (the solution) not found; columns are 'question', 'final_answer'; "
        "did you mean 'final_answer' (--col solution=final_answer)?"
    )


@pytest.mark.parametrize(
    ("arrow_type", "shown"), [(pa.int64(), "int64"), (pa.float64(), "double"), (pa.list_(pa.string()), "list")]
)
def test_parquet_column_of_the_wrong_type(tmp_path, arrow_type, shown):
    schema = pa.schema([("instruction", arrow_type), ("solution", pa.string())])
    value = {"int64": 1, "double": 1.5, "list": ["x"]}[shown]
    path = write_parquet(tmp_path / "d.parquet", [{"instruction": value, "solution": "a"}], schema)
    with pytest.raises(InputError) as err:
        open_source(str(path), REQUIRED)
    assert str(err.value).startswith(f"{path}: column 'instruction' (the instruction) has type {shown}")
    assert str(err.value).endswith("; expected text (string)")


def test_parquet_large_string_is_text(tmp_path):
    schema = pa.schema([("instruction", pa.large_string()), ("solution", pa.string())])
    path = write_parquet(tmp_path / "d.parquet", ROWS, schema)
    assert values(open_source(str(path), REQUIRED)) == ROWS


def test_parquet_non_text_columns_pass_when_the_task_says_so(tmp_path):
    """A task with list or integer columns (structured: choices, answer) names only its text columns."""
    rows = [{"question": "q", "choices": ["a", "b"], "answer": 1}]
    path = write_parquet(tmp_path / "d.parquet", rows)
    required = {"question": "question", "choices": "choices", "answer": "answer"}
    assert values(open_source(str(path), required, text_columns=("question",))) == rows
    with pytest.raises(InputError, match="column 'choices' \\(the choices\\) has type list<element: string>"):
        open_source(str(path), required)  # by default every column must be text
    bad = write_parquet(tmp_path / "bad.parquet", [{**rows[0], "question": 3}])
    with pytest.raises(InputError, match="column 'question' \\(the question\\) has type int64"):
        open_source(str(bad), required, text_columns=("question",))


def test_parquet_streaming_does_not_hold_what_it_has_read(tmp_path):
    """Arrow memory stays at about one row group however much of the file was read (pre_buffer kept it all)."""
    import random

    rng = random.Random(0)
    path = tmp_path / "big.parquet"
    schema = pa.schema([("instruction", pa.string()), ("solution", pa.string())])
    with pq.ParquetWriter(path, schema, compression="none") as writer:
        for _ in range(40):  # 40 row groups of 1 MB of incompressible text each
            column = [rng.randbytes(500).hex() for _ in range(1000)]
            writer.write_table(pa.table({"instruction": column, "solution": ["a"] * 1000}, schema=schema))
    before = pa.total_allocated_bytes()
    held = 0
    for _ in open_source(str(path), REQUIRED).rows():
        held = max(held, pa.total_allocated_bytes() - before)
    assert held < 10_000_000, f"{held / 1e6:.0f} MB of Arrow memory held while streaming 40 MB"


def test_parquet_folder_names_the_file_with_the_bad_column(tmp_path):
    folder = tmp_path / "shards"
    folder.mkdir()
    write_parquet(folder / "part-0.parquet", ROWS)
    bad = write_parquet(folder / "part-1.parquet", [{"instruction": "q", "answer": "a"}])
    with pytest.raises(InputError, match=rf"^{re.escape(str(bad))}: column 'solution' \(the solution\) not found"):
        open_source(str(folder), REQUIRED)


# -- JSONL -----------------------------------------------------------------------------------------------------
def test_jsonl_not_utf8_names_the_line(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_bytes(b'{"instruction": "q", "solution": "a"}\n{"instruction": "caf\xe9", "solution": "a"}\n')
    with pytest.raises(InputError) as err:
        open_source(str(path), REQUIRED)
    assert str(err.value) == (f"{path}: line 2 is not UTF-8 (byte 0xe9 at offset 20); re-encode the file as UTF-8")


def test_jsonl_invalid_json_names_the_line_and_row(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text('{"instruction": "q", "solution": "a"}\n\n{"instruction": "q", solution: "a"}\n')
    with pytest.raises(InputError) as err:
        open_source(str(path), REQUIRED)
    assert str(err.value) == (
        f"{path}: line 3 (row 1) is not valid JSON: Expecting property name enclosed in double quotes at column 22"
    )


def test_jsonl_truncated_last_line(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text('{"instruction": "q", "solution": "a"}\n{"instruction": "q", "sol')
    with pytest.raises(InputError, match=r": line 2 \(row 1\) is not valid JSON: Unterminated string"):
        open_source(str(path), REQUIRED)


@pytest.mark.parametrize(("line", "kind"), [('["q", "a"]', "list"), ('"text"', "str"), ("3", "int")])
def test_jsonl_line_that_is_not_an_object(tmp_path, line, kind):
    path = tmp_path / "d.jsonl"
    path.write_text('{"instruction": "q", "solution": "a"}\n' + line + "\n")
    with pytest.raises(InputError) as err:
        open_source(str(path), REQUIRED)
    assert str(err.value) == f"{path}: line 2 (row 1) is a JSON {kind}, expected an object"


@pytest.mark.parametrize("content", ["", "\n\n  \n"])
def test_jsonl_empty_file(tmp_path, content):
    path = tmp_path / "d.jsonl"
    path.write_text(content)
    with pytest.raises(InputError, match=rf"^{re.escape(str(path))}: file has no rows$"):
        open_source(str(path), REQUIRED)


def test_jsonl_skips_blank_lines_and_reads_crlf(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_bytes(b'\r\n{"instruction": "q0", "solution": "a0"}\r\n\r\n{"instruction": "q1", "solution": "a1"}')
    source = open_source(str(path), REQUIRED)
    assert source.count == 2
    assert [(r.index, r.values["instruction"]) for r in source.rows()] == [(0, "q0"), (1, "q1")]


def test_jsonl_columns_are_the_union_of_keys(tmp_path):
    path = write_jsonl(tmp_path / "d.jsonl", [{"instruction": "q"}, {"solution": "a", "extra": 1}])
    source = open_source(str(path), REQUIRED)
    assert source.columns == ["instruction", "solution", "extra"]
    # A row that lacks a column is not an input error: the stage rejects that row alone.
    assert values(source) == [{"instruction": "q"}, {"solution": "a", "extra": 1}]


def test_jsonl_bare_carriage_return_inside_a_line(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_bytes(b'{"instruction": "q",\r"solution": "a"}\n')
    source = open_source(str(path), REQUIRED)
    assert values(source) == [{"instruction": "q", "solution": "a"}]


# -- CSV -------------------------------------------------------------------------------------------------------
def test_csv_not_utf8_names_the_line(tmp_path):
    path = tmp_path / "d.csv"
    path.write_bytes(b"instruction,solution\nq,a\ncaf\xe9,a\n")
    with pytest.raises(InputError) as err:
        open_source(str(path), REQUIRED)
    assert str(err.value) == f"{path}: line 3 is not UTF-8 (byte 0xe9 at offset 3); re-encode the file as UTF-8"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("q,a\nx,y,z\n", "row 1 (line 3) has 3 fields, the header has 2"),
        ("q\n", "row 0 (line 2) has 1 fields, the header has 2"),
        ('"multi\nline",a\nx\n', "row 1 (line 4) has 1 fields, the header has 2"),
    ],
)
def test_csv_row_with_the_wrong_field_count(tmp_path, body, message):
    path = tmp_path / "d.csv"
    path.write_text("instruction,solution\n" + body)
    with pytest.raises(InputError) as err:
        open_source(str(path), REQUIRED)
    assert str(err.value) == f"{path}: {message}"


def test_csv_empty_file(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("")
    with pytest.raises(InputError, match=rf"^{re.escape(str(path))}: file is empty; expected a header row$"):
        open_source(str(path), REQUIRED)


def test_csv_header_only_has_no_rows(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("instruction,solution\n")
    source = open_source(str(path), REQUIRED)
    assert source.count == 0
    assert values(source) == []


def test_csv_quoting_and_multiline_fields(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text('instruction,solution\n"a, b","line 1\nline 2 ""quoted"""\n', encoding="utf-8")
    assert values(open_source(str(path), REQUIRED)) == [{"instruction": "a, b", "solution": 'line 1\nline 2 "quoted"'}]


def test_tsv(tmp_path):
    path = tmp_path / "d.tsv"
    path.write_text("instruction\tsolution\nq, with comma\ta\n")
    assert values(open_source(str(path), REQUIRED)) == [{"instruction": "q, with comma", "solution": "a"}]


def test_csv_trailing_blank_line(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("instruction,solution\nq,a\n\n")
    assert values(open_source(str(path), REQUIRED)) == [{"instruction": "q", "solution": "a"}]


def test_csv_with_a_utf8_byte_order_mark(tmp_path):
    path = tmp_path / "d.csv"
    path.write_bytes("instruction,solution\nq,a\n".encode("utf-8-sig"))
    assert values(open_source(str(path), REQUIRED)) == [{"instruction": "q", "solution": "a"}]


# -- the good path ---------------------------------------------------------------------------------------------
def test_rows_stream_in_order_with_a_zero_based_index(tmp_path, fmt):
    path = make(tmp_path, fmt)
    source = open_source(str(path), REQUIRED)
    rows = list(source.rows())
    assert [r.index for r in rows] == [0, 1, 2]
    assert [r.values for r in rows] == ROWS
    assert source.count == 3
    assert source.label == str(path)
    assert source.columns == ["instruction", "solution"]
    assert all(r.parent_id is None for r in rows)


def test_rows_can_be_streamed_twice(tmp_path, fmt):
    source = open_source(str(make(tmp_path, fmt)), REQUIRED)
    assert [r.record_id for r in source.rows()] == [r.record_id for r in source.rows()]


def test_record_id_is_stable_across_opens(tmp_path, fmt):
    path = make(tmp_path, fmt)
    first = [r.record_id for r in open_source(str(path), REQUIRED).rows()]
    second = [r.record_id for r in open_source(str(path), REQUIRED).rows()]
    assert first == second
    assert len(set(first)) == 3
    assert all(re.fullmatch(r"[0-9a-f]{32}", rid) for rid in first)


def test_record_id_does_not_depend_on_position(tmp_path):
    forward = [r.record_id for r in open_source(str(write_jsonl(tmp_path / "a.jsonl", ROWS)), REQUIRED).rows()]
    backward = [r.record_id for r in open_source(str(write_jsonl(tmp_path / "b.jsonl", ROWS[::-1])), REQUIRED).rows()]
    assert forward == backward[::-1]


def test_record_id_changes_with_the_content(tmp_path):
    a = next(open_source(str(write_jsonl(tmp_path / "a.jsonl", [ROWS[0]])), REQUIRED).rows())
    b = next(open_source(str(write_jsonl(tmp_path / "b.jsonl", [{**ROWS[0], "solution": "a0 "}])), REQUIRED).rows())
    assert a.record_id != b.record_id


def test_identical_rows_get_distinct_record_ids(tmp_path, fmt):
    row = {"instruction": "same", "solution": "same"}
    path = make(tmp_path, fmt, [row, ROWS[0], row, row])
    rows = list(open_source(str(path), REQUIRED).rows())
    ids = [r.record_id for r in rows]
    assert len(set(ids)) == 4
    assert ids == [r.record_id for r in open_source(str(path), REQUIRED).rows()]
    # the first copy has the same id as the row alone would have
    alone = next(open_source(str(make(tmp_path, fmt, [row], name="alone")), REQUIRED).rows())
    assert ids[0] == alone.record_id


def test_parent_id_comes_from_a_record_id_column(tmp_path, fmt):
    rows = [{"record_id": "parent-0", **ROWS[0]}, {"record_id": "parent-1", **ROWS[1]}]
    got = list(open_source(str(make(tmp_path, fmt, rows)), REQUIRED).rows())
    assert [r.parent_id for r in got] == ["parent-0", "parent-1"]
    assert got[0].record_id != "parent-0"


def test_parent_id_ignores_a_non_text_record_id(tmp_path):
    path = write_jsonl(tmp_path / "d.jsonl", [{"record_id": 7, **ROWS[0]}])
    assert next(open_source(str(path), REQUIRED).rows()).parent_id is None


def test_fingerprint_is_the_file_hash(tmp_path, fmt):
    import hashlib

    path = make(tmp_path, fmt)
    source = open_source(str(path), REQUIRED)
    assert source.fingerprint == {"files": {str(path): hashlib.sha256(path.read_bytes()).hexdigest()}}


def test_folder_of_parquet_shards_reads_in_name_order(tmp_path):
    folder = tmp_path / "shards"
    folder.mkdir()
    write_parquet(folder / "part-00001.parquet", ROWS[2:])
    write_parquet(folder / "part-00000.parquet", ROWS[:2])
    (folder / ".harness").mkdir()
    write_parquet(folder / ".harness" / "hidden.parquet", [{"instruction": "no", "solution": "no"}])
    source = open_source(str(folder), REQUIRED)
    assert source.count == 3
    assert [(r.index, r.values) for r in source.rows()] == list(enumerate(ROWS))
    assert sorted(source.fingerprint["files"]) == [
        str(folder / "part-00000.parquet"),
        str(folder / "part-00001.parquet"),
    ]


def test_parquet_reads_many_batches(tmp_path):
    many = [{"instruction": f"q{i}", "solution": f"a{i}"} for i in range(2500)]
    path = write_parquet(tmp_path / "d.parquet", many)
    rows = list(open_source(str(path), REQUIRED).rows())
    assert [r.index for r in rows] == list(range(2500))
    assert rows[-1].values == many[-1]


# -- datasets folders and the hub ------------------------------------------------------------------------------
def test_saved_dataset_folder(tmp_path):
    import datasets

    folder = tmp_path / "saved"
    datasets.Dataset.from_list(ROWS).save_to_disk(str(folder))
    source = open_source(str(folder), REQUIRED)
    assert source.count == 3
    assert source.fingerprint["split"] == "train"
    assert [(r.index, r.values) for r in source.rows()] == list(enumerate(ROWS))
    assert [r.record_id for r in source.rows()] == [r.record_id for r in open_source(str(folder), REQUIRED).rows()]


def test_saved_dataset_with_a_misspelled_column(tmp_path):
    import datasets

    folder = tmp_path / "saved"
    datasets.Dataset.from_dict({"instruction": ["q"], "soluton": ["a"]}).save_to_disk(str(folder))
    with pytest.raises(InputError) as err:
        open_source(str(folder), REQUIRED)
    assert str(err.value) == (
        f"{folder}: column 'solution' (the solution) not found; columns are 'instruction', 'soluton'; "
        "did you mean 'soluton' (--col solution=soluton)?"
    )


def test_saved_dataset_with_a_non_text_column(tmp_path):
    import datasets

    folder = tmp_path / "saved"
    datasets.Dataset.from_dict({"instruction": [1], "solution": ["a"]}).save_to_disk(str(folder))
    with pytest.raises(InputError, match=r"column 'instruction' \(the instruction\) has type int64; expected text"):
        open_source(str(folder), REQUIRED)


def test_saved_dataset_dict_picks_the_split(tmp_path):
    import datasets

    folder = tmp_path / "saved"
    datasets.DatasetDict(
        {"train": datasets.Dataset.from_list(ROWS), "test": datasets.Dataset.from_list(ROWS[:1])}
    ).save_to_disk(str(folder))
    assert values(open_source(str(folder), REQUIRED, split="test")) == ROWS[:1]
    assert values(open_source(str(folder), REQUIRED)) == ROWS


def test_saved_dataset_dict_without_the_split(tmp_path):
    import datasets

    folder = tmp_path / "saved"
    datasets.DatasetDict(
        {"train": datasets.Dataset.from_list(ROWS), "test": datasets.Dataset.from_list(ROWS)}
    ).save_to_disk(str(folder))
    with pytest.raises(InputError) as err:
        open_source(str(folder), REQUIRED, split="validation")
    assert str(err.value) == f"{folder}: no split 'validation'; it has train, test (use --split)"


def test_hub_id_offline_is_an_input_error(tmp_path, monkeypatch):
    """Everything up to the network: offline, a hub id fails with InputError, not a traceback."""
    import datasets.config
    import huggingface_hub.constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    # both libraries read the variable once, at import; keep them in step with the environment
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "hf-datasets")
    with pytest.raises(InputError) as err:
        open_source("harness-test-org/no-such-dataset", REQUIRED)
    assert str(err.value).startswith("harness-test-org/no-such-dataset: cannot load this hub dataset (")
    assert isinstance(err.value.__cause__, Exception)
