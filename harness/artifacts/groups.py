"""Reading rows question by question: the rows that share a `record_id` (a question's samples or variants), which
a synth artifact keeps next to each other. Streamed; memory holds one question.

`open_questions` reads an artifact folder as it was written, or any input synth reads (JSONL, CSV, Parquet, a
folder of them, a saved dataset, a hub id): a user's own rows. Those get what a stage needs to resume and link
back: `source_index` (the row's number), `record_id` (one per question: the rows sharing a `--col group=COLUMN` value,
next to each other; by default the file's own `record_id` column, else each row alone) and `candidate_idx` (its
place in the question), unless the file has them already.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from harness.artifacts.sources import InputError, Source, arrow_schema, open_source
from harness.artifacts.spill import SPILL_BOUND, SpillCounts
from harness.artifacts.writer import META_DIR, PART_RE, read_provenance, verify_shards

IDENTITY = ("record_id", "source_index")  # what an input artifact must have
# What a plain input's rows are given when they lack it, and the type it must have when they do not.
ADDED = {"record_id": pa.string(), "source_index": pa.int64(), "candidate_idx": pa.int32()}


@dataclass
class Questions:
    """A stage's input, question by question: an artifact folder, or any input synth reads."""

    label: str
    schema: pa.Schema  # of the rows `groups()` yields (without metadata)
    rows: int
    upstream: dict[str, Any]  # the artifact's provenance (its first shard's); {} for other inputs
    files: dict[str, Any]  # the input's files, for provenance
    identity: dict[str, Any]  # what a resumed run must read again
    groups: Callable[[], Iterator[list[dict[str, Any]]]]
    artifact: bool


def open_questions(
    spec: str, needs: tuple[str, ...] = IDENTITY, what: str = "harness synth", split: str = "train",
    group: str | None = None,
) -> Questions:  # fmt: skip
    """`spec` as questions. `needs`: the columns an artifact must have (a plain input is given those of ADDED);
    `group`: the column whose value makes a plain input's question (`--col group=COLUMN`)."""
    path = Path(spec).expanduser()
    if path.is_dir() and (path / META_DIR).is_dir():
        if group is not None:
            raise InputError(f"--col group={group}: {path} is a harness artifact, whose questions are its record_ids")
        shards = artifact_shards(path, needs, what)
        schema = pq.read_schema(shards[0]).remove_metadata()
        files = {s.name: s.stat().st_size for s in shards}
        return Questions(
            str(path), schema, count_rows(shards), read_provenance(shards[0]), files, {"input": str(path)},
            lambda: question_groups(shards), artifact=True,
        )  # fmt: skip
    source = open_source(spec, {}, split)
    if group is not None and group not in source.columns:
        raise InputError(
            f"--col group={group}: {source.label} has no column {group!r}; its columns are {', '.join(source.columns)}"
        )
    found, count = arrow_schema(source)
    key = group or ("record_id" if "record_id" in found.names else None)
    if group is not None and group != "record_id" and "record_id" in found.names:
        raise InputError(
            f"--col group={group}: {source.label} has its own record_id column, which names its questions; "
            "leave out --col group to group by it"
        )
    fields = list(found)
    for name, kind in ADDED.items():
        if name not in found.names:
            fields.append(pa.field(name, kind))
        elif name == "record_id" and key == "record_id":
            fields[found.names.index(name)] = pa.field(name, kind)  # the group's value, as text
        elif not _fits(found.field(name).type, kind):
            raise InputError(f"{source.label}: column {name!r} has type {found.field(name).type}; expected {kind}")
    identity = {"input": source.label, "source": source.fingerprint, "group": key}
    files = source.fingerprint.get("files", source.fingerprint)
    return Questions(
        source.label, pa.schema(fields), count, {}, files, identity, lambda: _plain_groups(source, key), artifact=False
    )


def _fits(found: pa.DataType, wanted: pa.DataType) -> bool:
    if pa.types.is_integer(wanted):
        return pa.types.is_integer(found) or pa.types.is_null(found)
    return pa.types.is_string(found) or pa.types.is_large_string(found) or pa.types.is_null(found)


def _plain_groups(source: Source, key: str | None) -> Iterator[list[dict[str, Any]]]:
    """A plain input's rows as questions: consecutive rows sharing `key`'s value (each row alone without one)."""
    if key is None:
        rows = ((f"{source.label}: row {r.index}", _added(r.values, r.index, r.record_id)) for r in source.rows())
    else:
        rows = (
            (f"{source.label}: row {index}", _added(values, index, _group_id(key, values.get(key))))
            for index, values in source.values()
        )
    for group in _grouped(rows, f" (sort the input by {key})" if key else ""):
        for position, row in enumerate(group):
            row.setdefault("candidate_idx", position)
        yield group


def _added(values: dict[str, Any], index: int, record_id: str) -> dict[str, Any]:
    values["record_id"] = record_id
    values.setdefault("source_index", index)
    return values


def _group_id(key: str, value: Any) -> str:
    if key == "record_id" and isinstance(value, str):
        return value
    text = json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def artifact_shards(path: Path, needs: tuple[str, ...] = IDENTITY, what: str = "harness synth") -> list[Path]:
    """The committed shards of an artifact folder, checked for the columns `needs`."""
    if not path.is_dir():
        raise InputError(f"{path}: not an artifact folder (expected the --output folder of {what})")
    shards = sorted(p for p in path.glob("*.parquet") if PART_RE.match(p.name))
    if not shards:
        raise InputError(f"{path}: no part-*.parquet shards; is it the --output folder of {what}?")
    verify_shards(path, shards)  # before any footer is parsed: a corrupted one can fail in odd ways
    for shard in shards:
        try:
            names = pq.read_schema(shard).names
        except (OSError, pa.ArrowException) as err:
            raise InputError(f"{shard}: not a readable Parquet file ({err})") from err
        missing = [c for c in needs if c not in names]
        if missing:
            raise InputError(f"{shard}: column(s) {missing} missing; expected the --output folder of {what}")
    return shards


def question_groups(shards: list[Path]) -> Iterator[list[dict[str, Any]]]:
    """The rows, question by question (consecutive rows sharing a record_id)."""

    def rows() -> Iterator[tuple[str, dict[str, Any]]]:
        for shard in shards:
            for batch in pq.ParquetFile(shard, pre_buffer=False).iter_batches(batch_size=1024):
                for row in batch.to_pylist():
                    yield str(shard), row

    return _grouped(rows(), "")


def _grouped(rows: Iterable[tuple[str, dict[str, Any]]], fix: str) -> Iterator[list[dict[str, Any]]]:
    """(where, row) pairs -> lists of consecutive rows sharing a record_id; a record seen again is refused (the
    questions already read are kept for that; past `SPILL_BOUND` of them, on disk)."""
    closed = SpillCounts(SPILL_BOUND)
    group: list[dict[str, Any]] = []
    for where, row in rows:
        if group and row["record_id"] != group[0]["record_id"]:
            closed.add(group[0]["record_id"])
            yield group
            group = []
        if not group and row["record_id"] in closed:  # a question's later rows need no look-up
            raise InputError(
                f"{where}: the rows of record {row['record_id']} are not next to each other; "
                f"a question's rows must be read together{fix}"
            )
        group.append(row)
    if group:
        yield group


def count_rows(shards: list[Path]) -> int:
    return sum(pq.ParquetFile(s).metadata.num_rows for s in shards)
