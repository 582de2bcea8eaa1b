"""The cache directory, a cross-process file lock, and the generation cache.

The generation cache stores raw completions keyed by the canonical request (rendered messages or prompt,
assistant prefix, model fingerprint, engine, sampling params). Parsing happens after the cache, so changing
a parser never re-generates, and a resumed run replays what an interrupted one already paid for.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from harness.engines.base import Completion, Request, SamplingParams


def cache_dir() -> Path:
    """`$HARNESS_CACHE_DIR`, else `$XDG_CACHE_HOME/reasoning-harness`, else `~/.cache/reasoning-harness`."""
    if env := os.environ.get("HARNESS_CACHE_DIR"):
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "reasoning-harness"


class LockedError(RuntimeError):
    """Another process holds the lock."""


@contextmanager
def file_lock(path: Path, blocking: bool = True) -> Iterator[None]:
    """An exclusive lock held while the block runs; the OS drops it if the process dies."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        flags = fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB)
        try:
            fcntl.flock(handle, flags)
        except BlockingIOError as err:
            raise LockedError(f"{path} is locked by another running process") from err
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)


def canonical_sha256(value: Any) -> bytes:
    """The sha256 digest of `canonical_json(value)` in UTF-8, encoded a slice at a time: a huge field is not held twice
    more (its JSON text and those bytes) while it is hashed, only its JSON text."""
    text, digest = canonical_json(value), hashlib.sha256()
    for start in range(0, len(text), HASH_SLICE):
        digest.update(text[start : start + HASH_SLICE].encode())
    return digest.digest()


HASH_SLICE = 1 << 20  # characters per encoded slice


def request_key(request: Request, params: SamplingParams, model: str, engine: str) -> str:
    payload = {"request": request.to_dict(), "params": _params_dict(params), "model": model, "engine": engine}
    return canonical_sha256(payload).hex()


def _params_dict(params: SamplingParams) -> dict[str, Any]:
    """A run keys every request with the same few params objects: `asdict` once each, not per request (a fifth
    of a cache-answered synth's time). Keyed by the object itself, not by equality: `temperature=1` equals
    `temperature=1.0` but is written differently, so it is another key."""
    found = _PARAMS_DICTS.get(id(params))
    if found is not None and found[0] is params:
        return found[1]
    if len(_PARAMS_DICTS) >= 64:
        _PARAMS_DICTS.clear()
    data = params.to_dict()
    _PARAMS_DICTS[id(params)] = (params, data)  # holding params keeps its id from being reused
    return data


_PARAMS_DICTS: dict[int, tuple[SamplingParams, dict[str, Any]]] = {}


class GenerationCache:
    """A SQLite table of key -> completions (JSON). Safe for several processes (WAL mode)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(path, timeout=60)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS generations (key TEXT PRIMARY KEY, completions TEXT NOT NULL)")

    @classmethod
    def default(cls) -> GenerationCache:
        return cls(cache_dir() / "generations.sqlite")

    def get_many(self, keys: list[str]) -> dict[str, list[Completion]]:
        found: dict[str, list[Completion]] = {}
        for start in range(0, len(keys), 500):  # SQLite caps the number of bound parameters
            chunk = keys[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows = self._db.execute(f"SELECT key, completions FROM generations WHERE key IN ({marks})", chunk)
            for key, blob in rows:
                found[key] = [Completion.from_dict(c) for c in json.loads(blob)]
        return found

    def put_answers(self, items: dict[str, list[Completion]]) -> None:
        """Store the completions of requests that were answered. A failed request is not an answer: caching
        it would replay the failure instead of retrying."""
        self.put_many({k: v for k, v in items.items() if not any(c.is_error for c in v)})

    def put_many(self, items: dict[str, list[Completion]]) -> None:
        rows = [(k, json.dumps([c.to_dict() for c in v], ensure_ascii=False)) for k, v in items.items()]
        with self._db:
            self._db.executemany("INSERT OR REPLACE INTO generations VALUES (?, ?)", rows)

    def close(self) -> None:
        self._db.close()


def cached_generate(
    engine, cache: GenerationCache | None, requests: list[Request], params: SamplingParams, model: str
) -> tuple[list[list[Completion]], list[bool]]:
    """Generate through the cache: only misses reach the engine. Returns completions and, per request, a hit flag."""
    if cache is None:
        return engine.generate(requests, params), [False] * len(requests)
    keys = [request_key(r, params, model, engine.name) for r in requests]
    found = cache.get_many(keys)
    hits = [k in found for k in keys]
    missing = [i for i, hit in enumerate(hits) if not hit]
    if missing:
        fresh = engine.generate([requests[i] for i in missing], params)
        new = {keys[i]: completions for i, completions in zip(missing, fresh, strict=True)}
        cache.put_answers(new)
        found.update(new)
    return [found[k] for k in keys], hits
