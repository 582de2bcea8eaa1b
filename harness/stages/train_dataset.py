"""Checked training rows -> a `datasets.Dataset` memory-mapped from disk, built in bounded memory.

Rows arrive one at a time; every `BATCH` of them becomes an Arrow record batch appended to a stream file in a
scratch folder under the harness cache, and the Dataset maps that file: Python holds one batch, never the input.

The column types are the ones `Dataset.from_list` infers over all rows: each batch is typed as `from_list`
types it, and the batches' schemas are unified as pyarrow promotes (null -> any type, int -> float, struct fields
merged). A batch that widens the schema starts a new part; parts are cast to the final schema in one more
streaming pass. `Dataset.from_generator` would not do: it fixes the types from its first batch, so a column that
starts with nulls fails, and text after numbers silently changes type.

Every build gets its own scratch folder, so two inputs never share files and a rerun never reads stale ones
(TRL's `dataset.map` caches land in the same folder and go with it). The folder is removed on `close()`, when the
process exits, or, after a crash, by the next build (its lock is no longer held).
"""

from __future__ import annotations

import shutil
import tempfile
import time
import weakref
from collections.abc import Iterable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from harness.artifacts.sources import InputError
from harness.engines.cache import LockedError, cache_dir, file_lock

BATCH = 1000  # rows held as Python objects at once
LOCK = ".in-use"
ORPHAN_AGE_S = 60  # a folder is only swept once it is older than this: its builder may not hold the lock yet


class Scratch:
    """A folder of its own under `cache_dir()/train-data`, locked while in use, removed on close or at exit."""

    def __init__(self) -> None:
        root = cache_dir() / "train-data"
        root.mkdir(parents=True, exist_ok=True)
        _sweep_orphans(root)
        self.path = Path(tempfile.mkdtemp(dir=root))
        self._stack = ExitStack()
        self._stack.enter_context(file_lock(self.path / LOCK, blocking=False))
        self._finalizer = weakref.finalize(self, _remove, self._stack, self.path)

    def close(self) -> None:
        self._finalizer()


def _remove(stack: ExitStack, path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)  # a dataset still mapping its files keeps reading them (POSIX unlink)
    stack.close()


def _sweep_orphans(root: Path) -> None:
    """Folders left by a killed build: old enough, and nobody holds their lock."""
    for folder in root.iterdir():
        if not folder.is_dir() or time.time() - folder.stat().st_mtime < ORPHAN_AGE_S:
            continue
        try:
            with file_lock(folder / LOCK, blocking=False):
                shutil.rmtree(folder, ignore_errors=True)
        except LockedError:
            continue


def write_dataset(label: str, rows: Iterable[dict[str, Any]], folder: Path):
    """The rows as a Dataset mapped from `folder`, columns in the first row's order; None when there are no rows.
    A column whose values do not share one type is named (InputError)."""
    import pyarrow as pa
    from datasets import Dataset

    parts = _PartWriter(label, folder)
    try:
        for batch in _batches(rows):
            parts.add(batch)
    finally:
        parts.close()
    if not parts.files:
        return None
    data = parts.files[0] if len(parts.files) == 1 else _cast_into_one(parts.files, parts.schema, folder, pa)
    return Dataset.from_file(str(data))


def _batches(rows: Iterable[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for row in rows:
        batch.append(row)
        if len(batch) == BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


class _PartWriter:
    """Appends batches to `part-N.arrow` files; a new part starts whenever a batch widens the schema."""

    def __init__(self, label: str, folder: Path) -> None:
        self.label = label
        self.folder = folder
        self.files: list[Path] = []
        self.schema = None  # the unified schema of everything written so far
        self.columns: list[str] = []
        self.kinds: dict[str, set[str]] = {}  # Python types seen per column, to name a column that mixes them
        self._writer = None
        self._part_schema = None

    def add(self, batch: list[dict[str, Any]]) -> None:
        import pyarrow as pa

        if not self.columns:
            self.columns = list(batch[0])  # as Dataset.from_list: the first row's keys, missing values are null
        for row in batch:
            for name, value in row.items():
                if value is not None:
                    self.kinds.setdefault(name, set()).add(type(value).__name__)
        try:
            table = _typed(batch, self.columns)
            schema = table.schema if self.schema is None else _unify(self.schema, table.schema)
        except (pa.ArrowInvalid, pa.ArrowTypeError) as err:
            raise self._type_error(err) from err
        if self._part_schema is None or not schema.equals(self._part_schema):
            self._start_part(schema)
        self.schema = schema
        self._writer.write_table(table.cast(schema))  # e.g. an all-null batch of a text column: cast to text

    def _start_part(self, schema) -> None:
        import pyarrow as pa

        self.close()
        path = self.folder / f"part-{len(self.files)}.arrow"
        self.files.append(path)
        self._writer = pa.ipc.new_stream(str(path), schema)  # the stream format `Dataset.from_file` maps
        self._part_schema = schema

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def _type_error(self, err: Exception) -> InputError:
        for name in self.columns:
            kinds = self.kinds.get(name, set())
            if len(kinds) > 1:
                return InputError(
                    f"{self.label}: column {name!r} mixes types ({', '.join(sorted(kinds))}); "
                    "a training dataset needs one type per column"
                )
        return InputError(f"{self.label}: cannot build a training dataset ({err})")


def _typed(batch: list[dict[str, Any]], columns: list[str]):
    """One batch typed as `Dataset.from_list` types rows: its own per-column conversion, without the Dataset
    around it (which would fingerprint every batch by pickling it: a third of the build time)."""
    import pyarrow as pa
    from datasets.arrow_writer import OptimizedTypedSequence

    return pa.Table.from_pydict({c: OptimizedTypedSequence([row.get(c) for row in batch], col=c) for c in columns})


def _unify(a, b):
    import pyarrow as pa

    return pa.unify_schemas([a, b], promote_options="permissive")


def _cast_into_one(files: list[Path], schema, folder: Path, pa) -> Path:
    """Parts written under narrower schemas, cast batch by batch into one file of the final schema."""
    target = folder / "data.arrow"
    with pa.ipc.new_stream(str(target), schema) as writer:
        for path in files:
            with pa.memory_map(str(path)) as source:
                for record_batch in pa.ipc.open_stream(source):
                    writer.write_batch(record_batch.cast(schema))
            path.unlink()
    return target
