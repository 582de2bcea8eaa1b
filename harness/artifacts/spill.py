"""An exact count per key, and a map of keys to values, whose memory stays bounded however many keys there are.

Reading 10M input rows must not hold 10M ids: numbering repeated rows (`Source.rows()`), the ids a resumed run
skips and the questions already read (`question_groups`) each need every key seen so far. `SpillCounts` keeps
up to `bound` keys in a dict; past it, they move to a SQLite file (unlinked at once, so a kill leaves nothing)
and a fixed-size Bloom filter in front of it answers "never seen" for most new keys without a look-up.
`SpillMap` does the same for a value per key (judge's source columns by `source_index`, a resume's failed
records by id), with no filter: judge's look-ups find their key, and failed records rarely pass the bound
(past it, each committed row costs synth one look-up). Below the bound nothing touches the disk, so small
inputs run as before.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import sqlite3
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

SPILL_BOUND = 20_000  # keys held in memory (2-3 MiB) before the rest go to disk
BLOOM_BITS = 1 << 25  # 4 MiB: false positives (each a SQLite look-up) 0.1% at 1M keys, 20% at 10M
_CACHE_KIB = 2048  # SQLite's page cache; the OS caches the file's pages outside the process


class SpillCounts:
    """key (str or bytes) -> how many times it was added; exact at any size."""

    def __init__(self, bound: int = SPILL_BOUND, folder: Path | None = None):
        self.bound = bound
        self.folder = folder  # where the SQLite file goes (None: the system's temporary folder)
        self._memory: dict[str | bytes, int] = {}
        self._db: sqlite3.Connection | None = None
        self._bloom: bytearray | None = None
        self.size = 0  # distinct keys

    def count(self, key: str | bytes) -> int:
        found = self._memory.get(key)
        if found is not None:
            return found
        if self._db is None or not self._maybe_spilled(key):
            return 0
        row = self._db.execute("SELECT n FROM counts WHERE k = ?", (key,)).fetchone()
        return row[0] if row else 0

    def add(self, key: str | bytes) -> int:
        """Count the key once more; returns its count before this call."""
        before = self.count(key)
        if before == 0:
            self.size += 1
        self._memory[key] = before + 1
        if len(self._memory) >= self.bound:
            self._spill()
        return before

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str | bytes) and self.count(key) > 0

    def __len__(self) -> int:
        return self.size

    def __iter__(self) -> Iterator[str | bytes]:
        """Every key once: those on disk (in key order), then those in memory."""
        memory = dict(self._memory)
        if self._db is not None:
            for (key,) in self._db.execute("SELECT k FROM counts"):
                if key not in memory:  # a key counted again since it was spilled is in both
                    yield key
        yield from memory

    def close(self) -> None:
        self._memory = {}
        self._bloom = None
        if self._db is not None:
            self._db.close()
            self._db = None

    def _spill(self) -> None:
        if self._db is None:
            self._db = _scratch(self.folder, "counts (k NOT NULL PRIMARY KEY, n INTEGER NOT NULL)")
            self._bloom = bytearray(BLOOM_BITS // 8)
        _insert_sorted(self._db, "counts", list(self._memory.items()))
        bloom = self._bloom
        assert bloom is not None
        for key in self._memory:
            for bit in _bits(key):
                bloom[bit >> 3] |= 1 << (bit & 7)
        self._memory = {}

    def _maybe_spilled(self, key: str | bytes) -> bool:
        bloom = self._bloom
        assert bloom is not None
        return all(bloom[bit >> 3] & (1 << (bit & 7)) for bit in _bits(key))


class SpillMap:
    """key (str, bytes or int) -> a value (anything pickle keeps); exact at any size. Setting a key again
    replaces its value."""

    def __init__(self, bound: int = SPILL_BOUND, folder: Path | None = None):
        self.bound = bound
        self.folder = folder  # where the SQLite file goes (None: the system's temporary folder)
        self._memory: dict[str | bytes | int, Any] = {}
        self._db: sqlite3.Connection | None = None

    def __setitem__(self, key: str | bytes | int, value: Any) -> None:
        self._memory[key] = value
        if len(self._memory) >= self.bound:
            self._spill()

    def get(self, key: str | bytes | int, default: Any = None) -> Any:
        if key in self._memory:
            return self._memory[key]
        if self._db is None:
            return default
        row = self._db.execute("SELECT v FROM map WHERE k = ?", (key,)).fetchone()
        return pickle.loads(row[0]) if row else default

    def __getitem__(self, key: str | bytes | int) -> Any:
        found = self.get(key, _MISSING)
        if found is _MISSING:
            raise KeyError(key)
        return found

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str | bytes | int) and self.get(key, _MISSING) is not _MISSING

    def __bool__(self) -> bool:
        return bool(self._memory) or self._db is not None

    def items(self) -> Iterator[tuple[str | bytes | int, Any]]:
        """Every key once with its value: those on disk (in key order), then those in memory."""
        memory = dict(self._memory)
        if self._db is not None:
            for key, value in self._db.execute("SELECT k, v FROM map"):
                if key not in memory:  # set again since it was spilled: the newer value is in memory
                    yield key, pickle.loads(value)
        yield from memory.items()

    def close(self) -> None:
        self._memory = {}
        if self._db is not None:
            self._db.close()
            self._db = None

    def _spill(self) -> None:
        if self._db is None:
            self._db = _scratch(self.folder, "map (k NOT NULL PRIMARY KEY, v BLOB NOT NULL)")
        _insert_sorted(self._db, "map", [(k, pickle.dumps(v)) for k, v in self._memory.items()])
        self._memory = {}


_MISSING = object()


def _scratch(folder: Path | None, table: str) -> sqlite3.Connection:
    """A SQLite file of this process's own, already unlinked: the open connection keeps it, so nothing is left
    behind, even by a kill."""
    fd, name = tempfile.mkstemp(prefix="harness-ids-", suffix=".sqlite", dir=folder)
    os.close(fd)
    # One user at a time, though not always the opening thread (a generator handed on, as Ray's feeder may).
    db = sqlite3.connect(name, isolation_level=None, check_same_thread=False)
    os.unlink(name)
    # No journal: the file is this process's scratch, never read after a crash.
    db.execute("PRAGMA journal_mode=OFF")
    db.execute("PRAGMA synchronous=OFF")
    db.execute(f"PRAGMA cache_size=-{_CACHE_KIB}")
    db.execute(f"CREATE TABLE {table} WITHOUT ROWID")
    return db


def _insert_sorted(db: sqlite3.Connection, table: str, items: list[tuple[Any, Any]]) -> None:
    """(key, value) rows into `table`, replacing a key already there, in one transaction and in key order
    (fewer page writes)."""
    items.sort(key=lambda item: _sort_key(item[0]))
    db.execute("BEGIN")
    db.executemany(f"INSERT OR REPLACE INTO {table} VALUES (?, ?)", items)
    db.execute("COMMIT")


def _sort_key(key: str | bytes | int) -> tuple[int, int | bytes]:
    return (0, key) if isinstance(key, int) else (1, _order(key))  # SQLite orders integers before text and blobs


def _order(key: str | bytes) -> bytes:
    return key.encode() if isinstance(key, str) else key  # SQLite's order of text and of blobs alike


def _bits(key: str | bytes) -> tuple[int, int, int]:
    digest = hashlib.blake2b(_order(key), digest_size=12).digest()
    mask = BLOOM_BITS - 1
    return (
        int.from_bytes(digest[0:4], "little") & mask,
        int.from_bytes(digest[4:8], "little") & mask,
        int.from_bytes(digest[8:12], "little") & mask,
    )
