"""An exact count per key whose memory stays bounded however many keys there are.

Reading 10M input rows must not hold 10M ids: numbering repeated rows (`Source.rows()`), the ids a resumed run
skips and the questions already read (`question_groups`) each need every key seen so far. `SpillCounts` keeps
up to `bound` keys in a dict; past it, they move to a SQLite file (unlinked at once, so a kill leaves nothing)
and a fixed-size Bloom filter in front of it answers "never seen" for most new keys without a look-up.
Below the bound nothing touches the disk, so small inputs run as before.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import tempfile
from collections.abc import Iterator
from pathlib import Path

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
            fd, name = tempfile.mkstemp(prefix="harness-ids-", suffix=".sqlite", dir=self.folder)
            os.close(fd)
            # One user at a time, though not always the opening thread (a generator handed on, as Ray's feeder may).
            self._db = sqlite3.connect(name, isolation_level=None, check_same_thread=False)
            os.unlink(name)  # the open connection keeps the file; nothing is left behind, even by a kill
            # No journal: the file is this process's scratch, never read after a crash.
            self._db.execute("PRAGMA journal_mode=OFF")
            self._db.execute("PRAGMA synchronous=OFF")
            self._db.execute(f"PRAGMA cache_size=-{_CACHE_KIB}")
            self._db.execute("CREATE TABLE counts (k NOT NULL PRIMARY KEY, n INTEGER NOT NULL) WITHOUT ROWID")
            self._bloom = bytearray(BLOOM_BITS // 8)
        items = sorted(self._memory.items(), key=lambda item: _order(item[0]))  # in key order: fewer page writes
        self._db.execute("BEGIN")
        self._db.executemany("INSERT OR REPLACE INTO counts VALUES (?, ?)", items)
        self._db.execute("COMMIT")
        bloom = self._bloom
        assert bloom is not None
        for key, _ in items:
            for bit in _bits(key):
                bloom[bit >> 3] |= 1 << (bit & 7)
        self._memory = {}

    def _maybe_spilled(self, key: str | bytes) -> bool:
        bloom = self._bloom
        assert bloom is not None
        return all(bloom[bit >> 3] & (1 << (bit & 7)) for bit in _bits(key))


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
