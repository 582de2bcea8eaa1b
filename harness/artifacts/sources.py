"""Input rows from Parquet, JSONL, CSV, a saved `datasets` folder, an artifact folder or a hub dataset id.

`open_source` checks the whole input before any model runs (file exists and parses, text is UTF-8, the
required columns exist with a text type) and raises `InputError` naming the file, row and column. Rows are
then streamed in order, so memory does not grow with the input. Problems that belong to one row (an empty
or non-text value) are not errors here: the row is kept and the stage turns it into a rejected row.
"""

from __future__ import annotations

import csv
import difflib
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from harness.artifacts.spill import SPILL_BOUND, SpillCounts
from harness.artifacts.writer import verify_shards
from harness.engines.cache import canonical_sha256

JSONL_SUFFIXES = (".jsonl", ".ndjson", ".json")
CSV_SUFFIXES = (".csv", ".tsv")
PARQUET_SUFFIXES = (".parquet", ".pq")
READ_BATCH = 1024


class InputError(ValueError):
    """A problem with the whole input; the message names the file, row and column."""


@dataclass
class SourceRow:
    index: int  # 0-based row number in the input
    record_id: str  # stable hash of the whole row (and its occurrence number, for repeated rows)
    parent_id: str | None  # the row's own record_id when the input is an artifact
    values: dict[str, Any]


class Source:
    """A checked input. `rows()` streams every row in order; `fingerprint` goes into provenance."""

    def __init__(self, label: str, columns: list[str], count: int | None, fingerprint: dict[str, Any], reader):
        self.label = label
        self.columns = columns
        self.count = count
        self.fingerprint = fingerprint
        self._reader = reader

    def values(self) -> Iterator[tuple[int, dict[str, Any]]]:
        """Each row's number and values, without ids: nothing kept per row (`rows()` counts every digest)."""
        return enumerate(self._reader())

    def rows(self, spill_dir: Path | None = None, bound: int = SPILL_BOUND) -> Iterator[SourceRow]:
        """`spill_dir`: where the digests past `bound` go (`harness.artifacts.spill`); None: the temporary folder."""
        seen = SpillCounts(bound, spill_dir)
        try:
            for index, row in enumerate(self._reader()):
                digest = canonical_sha256(row)
                occurrence = seen.add(digest)
                # A repeated row keeps its own id, so resume and dedup never confuse the copies.
                record_id = digest.hex()[:32] if occurrence == 0 else _hash(f"{digest.hex()}#{occurrence}")
                parent = row.get("record_id") if isinstance(row.get("record_id"), str) else None
                yield SourceRow(index, record_id, parent, row)
        finally:
            seen.close()


def open_source(
    spec: str, required: dict[str, str], split: str = "train", text_columns: tuple[str, ...] | None = None
) -> Source:
    """`required` maps each logical column to the input column that holds it (`{"instruction": "question"}`).
    `text_columns`: the logical columns a typed input (Parquet, datasets) must declare as text; None: all."""
    path = Path(spec).expanduser()
    texts = required if text_columns is None else {k: v for k, v in required.items() if k in text_columns}
    if path.is_dir():
        if (path / "dataset_info.json").exists() or (path / "dataset_dict.json").exists():
            return _saved_dataset(path, required, split, texts)
        shards = sorted(path.glob("*.parquet"))
        verify_shards(path, shards)  # an artifact folder's shards must match their completion markers
        return _parquet_files(str(path), shards, required, texts)
    if path.exists():
        suffix = path.suffix.lower()
        if suffix in PARQUET_SUFFIXES:
            return _parquet_files(str(path), [path], required, texts)
        if suffix in JSONL_SUFFIXES:
            return _jsonl(path, required)
        if suffix in CSV_SUFFIXES:
            return _csv(path, required)
        raise InputError(
            f"{path}: unknown input format {suffix!r}; expected one of "
            f"{', '.join(PARQUET_SUFFIXES + JSONL_SUFFIXES + CSV_SUFFIXES)}, a folder, or a hub dataset id"
        )
    if spec.startswith((".", "/", "~")) or spec.count("/") > 1 or Path(spec).suffix:
        raise InputError(f"{spec}: no such file or folder")
    return _hub_dataset(spec, required, split, texts)


# -- formats ---------------------------------------------------------------------------------------------
def _parquet_files(label: str, files: list[Path], required: dict[str, str], texts: dict[str, str]) -> Source:
    if not files:
        raise InputError(f"{label}: folder has no *.parquet files")
    schemas = []
    for f in files:
        try:
            schemas.append(pq.read_schema(f))
        except (OSError, pa.ArrowException) as err:
            raise InputError(f"{f}: not a readable Parquet file ({err})") from err
    for f, schema in zip(files, schemas, strict=True):
        _check_columns(str(f), schema.names, required)
        _check_text_types(str(f), {n: schema.field(n).type for n in schema.names}, texts)
    count = sum(pq.ParquetFile(f).metadata.num_rows for f in files)

    def read() -> Iterator[dict[str, Any]]:
        for f in files:
            # pre_buffer (pyarrow's default) keeps every row group it has read until the file is closed:
            # memory would grow with the input. Without it, one batch at a time is held.
            for batch in pq.ParquetFile(f, pre_buffer=False).iter_batches(batch_size=READ_BATCH):
                yield from batch.to_pylist()

    return Source(label, schemas[0].names, count, {"files": {str(f): _file_sha256(f) for f in files}}, read)


def _jsonl(path: Path, required: dict[str, str]) -> Source:
    """One streaming pass checks UTF-8 and JSON on every line, counts rows, hashes the file and finds the keys."""
    keys: dict[str, None] = {}
    count = 0
    digest = hashlib.sha256()
    with _open_binary(path) as f:
        for line_no, raw in enumerate(f, start=1):
            digest.update(raw)
            text = _decode(path, raw, line_no)
            del raw  # a huge line is held as its text and then its row, never as bytes, text and row at once
            if not text.strip():
                continue
            try:
                row = json.loads(text)
            except json.JSONDecodeError as err:
                raise InputError(
                    f"{path}: line {line_no} (row {count}) is not valid JSON: {err.msg} at column {err.colno}"
                ) from err
            if not isinstance(row, dict):
                raise InputError(
                    f"{path}: line {line_no} (row {count}) is a JSON {type(row).__name__}, expected an object"
                )
            keys.update(dict.fromkeys(row))
            count += 1
    if count == 0:
        raise InputError(f"{path}: file has no rows")
    _check_columns(str(path), list(keys), required)

    def read() -> Iterator[dict[str, Any]]:
        with open(path, "rb") as f:  # split on b"\n" exactly as the check did (text mode also splits on \r)
            for raw in f:
                if raw.strip():
                    text = raw.decode("utf-8")
                    del raw  # the row is yielded alone: not beside its line's bytes and text
                    row = json.loads(text)
                    del text
                    yield row

    return Source(str(path), list(keys), count, {"files": {str(path): digest.hexdigest()}}, read)


def _csv(path: Path, required: dict[str, str]) -> Source:
    delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    digest = hashlib.sha256()
    with _open_binary(path) as f:
        for line_no, raw in enumerate(f, start=1):
            digest.update(raw)
            _decode(path, raw, line_no)
    # utf-8-sig: spreadsheets write a byte-order mark that would otherwise stick to the first column name.
    with open(path, encoding="utf-8-sig", newline="") as f:
        reader = csv.reader(f, delimiter=delimiter)
        header = next(reader, None)
        if not header:
            raise InputError(f"{path}: file is empty; expected a header row")
        count = 0
        for record in reader:
            if not record:
                continue  # blank lines are skipped by the reader below too
            count += 1
            if len(record) != len(header):
                raise InputError(
                    f"{path}: row {count - 1} (line {reader.line_num}) has {len(record)} fields, the header has {len(header)}"
                )
    _check_columns(str(path), header, required)

    def read() -> Iterator[dict[str, Any]]:
        with open(path, encoding="utf-8-sig", newline="") as f:
            yield from csv.DictReader(f, delimiter=delimiter)

    return Source(str(path), header, count, {"files": {str(path): digest.hexdigest()}}, read)


def _saved_dataset(path: Path, required: dict[str, str], split: str, texts: dict[str, str]) -> Source:
    import datasets

    loaded = datasets.load_from_disk(str(path))
    if isinstance(loaded, datasets.DatasetDict):
        if split not in loaded:
            raise InputError(f"{path}: no split {split!r}; it has {', '.join(loaded)} (use --split)")
        loaded = loaded[split]
    fingerprint = {"fingerprint": loaded._fingerprint, "split": split}
    return _dataset_source(str(path), loaded, required, texts, fingerprint)


def _hub_dataset(repo_id: str, required: dict[str, str], split: str, texts: dict[str, str]) -> Source:
    """A hub dataset, streamed; without a network this fails here, before any model runs."""
    import datasets

    try:
        loaded = datasets.load_dataset(repo_id, split=split, streaming=True)
    except Exception as err:  # datasets raises many types for offline/missing; all mean "cannot read it"
        raise InputError(f"{repo_id}: cannot load this hub dataset ({type(err).__name__}: {err})") from err
    return _dataset_source(repo_id, loaded, required, texts, {"hub_id": repo_id, "split": split})


def _dataset_source(
    label: str, dataset, required: dict[str, str], texts: dict[str, str], fingerprint: dict[str, Any]
) -> Source:
    features = dataset.features
    if features is None:
        raise InputError(f"{label}: dataset does not declare its features; save it with features first")
    _check_columns(label, list(features), required)
    types = {name: getattr(feature, "pa_type", None) for name, feature in features.items()}
    _check_text_types(label, types, texts)
    count = len(dataset) if hasattr(dataset, "__len__") else None

    def read() -> Iterator[dict[str, Any]]:
        yield from dataset

    return Source(label, list(features), count, fingerprint, read)


# -- as Arrow ----------------------------------------------------------------------------------------------
def arrow_schema(source: Source) -> tuple[pa.Schema, int]:
    """One streaming pass: the Arrow schema that holds every row (types widened across batches, e.g. a column
    null at first and text later) and the number of rows. For a stage that works on Arrow batches (decontam)."""
    schemas, count = [], 0
    for batch in _row_batches(source):
        schemas.append(pa.Table.from_pylist(batch).schema)
        count += len(batch)
        if len(schemas) > 64:  # keep the list short however long the input is
            schemas = [_unify(source, schemas)]
    if not schemas:
        raise InputError(f"{source.label}: has no rows")
    return _unify(source, schemas), count


def arrow_batches(source: Source, schema: pa.Schema) -> Iterator[pa.RecordBatch]:
    """The rows in order, READ_BATCH at a time, each batch of `schema` (from `arrow_schema`)."""
    for batch in _row_batches(source):
        yield pa.RecordBatch.from_pylist(batch, schema=schema)


def _row_batches(source: Source) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for _, row in source.values():
        batch.append(row)
        if len(batch) == READ_BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def _unify(source: Source, schemas: list[pa.Schema]) -> pa.Schema:
    try:
        return pa.unify_schemas(schemas, promote_options="permissive")
    except (pa.ArrowTypeError, pa.ArrowInvalid) as err:
        raise InputError(f"{source.label}: a column holds values of different types in different rows ({err})") from err


# -- checks ----------------------------------------------------------------------------------------------
def _check_columns(label: str, present: list[str], required: dict[str, str]) -> None:
    for logical, column in required.items():
        if column in present:
            continue
        taken = set(required.values())
        close = difflib.get_close_matches(column, [p for p in present if p not in taken], n=1)
        hint = f"; did you mean {close[0]!r} (--col {logical}={close[0]})?" if close else ""
        raise InputError(
            f"{label}: column {column!r} (the {logical}) not found; columns are {', '.join(map(repr, present))}{hint}"
        )


def _check_text_types(label: str, types: dict[str, Any], required: dict[str, str]) -> None:
    for logical, column in required.items():
        found = types.get(column)
        if found is not None and not (pa.types.is_string(found) or pa.types.is_large_string(found)):
            raise InputError(f"{label}: column {column!r} (the {logical}) has type {found}; expected text (string)")


def _decode(path: Path, raw: bytes, line_no: int) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise InputError(
            f"{path}: line {line_no} is not UTF-8 (byte {raw[err.start]:#04x} at offset {err.start}); "
            "re-encode the file as UTF-8"
        ) from err


def _open_binary(path: Path):
    try:
        return open(path, "rb")
    except OSError as err:
        raise InputError(f"{path}: cannot read ({err.strerror})") from err


def _file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with _open_binary(path) as f:
        while block := f.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:32]
