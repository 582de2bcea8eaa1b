"""Artifact folders: sharded Parquet, each shard committed atomically, with provenance and resume.

Layout of an artifact folder DIR:

    DIR/part-00000.parquet ...     the artifact, and nothing else matches *.parquet
    DIR/.harness/config.yaml       the resolved config of the run
    DIR/.harness/run.json          what must not change between a run and its resume (task, model, params...)
    DIR/.harness/done/<part>.json  one completion marker per shard: rows and sha256
    DIR/.harness/tmp/              shards being written
    DIR/.harness/corrupt/          shards set aside on resume because their bytes no longer match their marker
    DIR/.harness/lock              held by the process writing DIR (an OS lock: it dies with its process)

The folder is hidden so `datasets.load_dataset("parquet", data_dir=DIR)` and `polars.scan_parquet` see only
the shards. A shard is committed in three steps: written and fsynced under tmp/, then its marker is
written (the commit point), then it is renamed into DIR. Recovery rolls a committed shard forward and
deletes anything uncommitted, so a kill at any point loses at most the batch in flight and never
duplicates rows. A shard whose sha256 no longer matches its marker (truncated, altered) is refused on read
(`verify_shards`) and set aside on resume, so the rerun regenerates exactly its records.

A write that fails (a full disk) removes what it half wrote and raises ArtifactError: the shards before it
stay committed, and the same command run again with space resumes from them.

Rows whose engine request failed for good (`finish_reason == "error"`) are written like any other row, but
their records do not count as done: a rerun generates them again and `replace_records` rewrites the shard
that holds them, through the same three steps under the same name (all but a row past the model's context,
`context_overflow`: the same settings fail it again, so it is final). A record therefore lives in exactly one
shard, and the artifact has each row once whatever was retried.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import yaml

from harness import __version__
from harness.artifacts.spill import SPILL_BOUND, SpillCounts, SpillMap
from harness.engines.cache import LockedError, canonical_json, file_lock
from harness.engines.context import OVERFLOW

META_DIR = ".harness"
PROVENANCE_KEY = b"harness"
PART_RE = re.compile(r"^part-(?:(?P<label>s\d+of\d+)-)?(?P<seq>\d{5,})\.parquet$")


class ArtifactError(RuntimeError):
    """The output folder cannot be used as asked; the message says why and what to do."""


class ArtifactWriter:
    def __init__(self, path: Path, schema: pa.Schema, run_identity: dict[str, Any], shard_label: str | None = None):
        self.path = Path(path)
        self.schema = schema
        self.run_identity = run_identity
        self.label = shard_label
        self.meta = self.path / META_DIR
        self._lock: contextlib.ExitStack | None = None
        self._seq: int | None = None  # the next new shard's number, found once (see commit)

    # -- opening and recovery -------------------------------------------------------------------------
    def open(self, config: dict[str, Any]) -> ArtifactWriter:
        if self.path.exists() and not self.path.is_dir():
            raise ArtifactError(f"{self.path}: is a file; the output must be a folder (it is created if missing)")
        for sub in ("done", "tmp"):
            (self.meta / sub).mkdir(parents=True, exist_ok=True)
        self._lock, self._seq = contextlib.ExitStack(), None  # another process may have written since a close
        try:
            self._lock.enter_context(file_lock(self.meta / "lock", blocking=False))
        except LockedError as err:
            self._lock = None
            raise ArtifactError(f"another harness process is writing to {self.path}; wait for it or stop it") from err
        try:
            self._recover()
            self._check_identity()
            self._check_schema()
            write_atomic(self.meta / "config.yaml", yaml.safe_dump(config, sort_keys=False, allow_unicode=True))
        except BaseException:
            self.close()  # a refused open must not keep the folder locked
            raise
        return self

    def close(self) -> None:
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    def __enter__(self) -> ArtifactWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _recover(self) -> None:
        markers = {m["file"]: m for m in _read_markers(self.meta / "done")}
        for name, marker in markers.items():
            final, tmp = self.path / name, self.meta / "tmp" / name
            if tmp.exists() and _sha256(tmp) == marker["sha256"]:
                os.replace(tmp, final)  # committed before the kill (a new shard or a rewrite): roll forward
            elif not final.exists():
                (self.meta / "done" / f"{name}.json").unlink()
                continue
            if final.exists() and _sha256(final) != marker["sha256"]:
                self._set_aside(final)  # its records are no longer done: this run generates them again
        for leftover in (self.meta / "tmp").iterdir():
            leftover.unlink()  # never committed: the rows are regenerated (cheaply, from the cache)
        for leftover in self.meta.rglob("*.writing"):
            leftover.unlink()  # an atomic write cut short (a full disk): the file it replaces is still whole
        for shard in self.path.glob("*.parquet"):
            if shard.name not in markers:
                raise ArtifactError(
                    f"{shard} has no completion marker in {self.meta / 'done'}: it was not written by this "
                    "harness run; move it out of the output folder"
                )

    def _set_aside(self, shard: Path) -> None:
        """Move a corrupted shard out of the artifact (kept for inspection) and drop its marker."""
        corrupt = self.meta / "corrupt"
        corrupt.mkdir(exist_ok=True)
        os.replace(shard, corrupt / shard.name)
        (self.meta / "done" / f"{shard.name}.json").unlink()
        _fsync_dir(self.path)
        print(
            f"warning: {shard}: corrupted (its sha256 no longer matches its completion marker); moved to "
            f"{corrupt / shard.name}, its records are generated again",
            file=sys.stderr,
        )

    def _check_identity(self) -> None:
        run_file = self.meta / "run.json"
        if not run_file.exists():
            write_atomic(run_file, json.dumps(self.run_identity, indent=2, sort_keys=True, default=str))
            return
        before = json.loads(run_file.read_text())
        now = json.loads(json.dumps(self.run_identity, default=str))
        if changed := _differences(before, now):
            details = "; ".join(f"{k}: {old!r} -> {new!r}" for k, old, new in changed)
            raise ArtifactError(
                f"{self.path} holds a run with other settings ({details}); resuming would mix them. "
                "Use another --output, or delete the folder to start over"
            )

    def _check_schema(self) -> None:
        for shard in self._parts():
            found = pq.read_schema(shard).remove_metadata()
            if not found.equals(self.schema):
                raise ArtifactError(f"{shard} has another schema than this run writes; use another --output")
            return  # every shard of a folder is written with the same schema: one check suffices

    # -- reading what is there ------------------------------------------------------------------------
    def shards(self) -> list[Path]:
        return sorted(self._parts())

    def has_shards(self) -> bool:
        """Whether any shard is committed, without listing them (a 10M-row select writes 39,063)."""
        return next(self._parts(), None) is not None

    def _parts(self) -> Iterator[Path]:
        """The shards in no order, one at a time: `Path.glob` lists the whole folder at once (about 250 bytes a
        file, 10 MiB for 39,063 shards), where only the sorted `shards()` needs them all."""
        with os.scandir(self.path) as entries:
            for entry in entries:
                if PART_RE.match(entry.name):
                    yield self.path / entry.name

    def done_record_ids(self, failed: SpillMap | None = None) -> SpillCounts:
        """Records that are finished: written, and not in `failed_records()` (pass it when it is already read).
        Past `SPILL_BOUND` ids they are kept on disk (`harness.artifacts.spill`), so a resumed 10M-row run does
        not hold 10M ids; `in` and `len` work as on a set."""
        failed = self.failed_records() if failed is None else failed
        done = SpillCounts(SPILL_BOUND, self.meta / "tmp")
        for shard in self._parts():
            ids = pc.unique(pq.read_table(shard, columns=["record_id"]).column("record_id"))
            for record_id in ids.to_pylist():
                if record_id not in failed:
                    done.add(record_id)
        return done

    def failed_records(self) -> SpillMap:
        """record_id -> the shard holding it, for every record with a row whose engine request failed and may
        succeed if asked again: a row past the model's context (`context_overflow`) would fail the same way
        with the same settings, which are the run's identity, so it is final. On disk past `SPILL_BOUND`."""
        failed = SpillMap(SPILL_BOUND, self.meta / "tmp")
        if "finish_reason" not in self.schema.names:
            return failed
        reasons = "rejection_reason" in self.schema.names
        for shard in self._parts():
            columns = ["record_id", "finish_reason", *(["rejection_reason"] if reasons else [])]
            table = pq.read_table(shard, columns=columns, filters=[("finish_reason", "=", "error")])
            rejections = table.column("rejection_reason").to_pylist() if reasons else [None] * table.num_rows
            for record_id, reason in zip(table.column("record_id").to_pylist(), rejections, strict=True):
                if not (reason or "").startswith(OVERFLOW):
                    failed[record_id] = shard.name
        return failed

    def rows_written(self) -> int:
        return sum(pq.ParquetFile(s).metadata.num_rows for s in self.shards())

    def valid_rows(self) -> int:
        """Rows whose `valid` column is true, over every shard; reads only that column."""
        return sum(pq.read_table(s, columns=["valid"]).column("valid").to_pylist().count(True) for s in self.shards())

    # -- writing ----------------------------------------------------------------------------------------
    def commit(self, table: pa.Table, provenance: dict[str, Any]) -> Path:
        """Write one new shard atomically; returns its final path."""
        if self._seq is None:  # once per open: the lock keeps other writers out, so counting on is looking again
            self._seq = 1 + max((int(PART_RE.match(p.name)["seq"]) for p in self._parts()), default=-1)
        name = f"part-{self.label + '-' if self.label else ''}{self._seq:05d}.parquet"
        written = self._write(name, table, provenance)
        self._seq += 1  # only once committed: a failed write leaves no gap
        return written

    def replace_records(self, name: str, table: pa.Table, provenance: dict[str, Any]) -> Path:
        """Rewrite shard `name` atomically with the rows of `table` in place of its rows of the same records.

        Used for retried records: their new rows take the place of the failed ones, in input order.
        """
        old = pq.read_table(self.path / name).replace_schema_metadata(None)
        ids = pa.array(sorted(set(table.column("record_id").to_pylist())), pa.string())
        kept = old.filter(pc.invert(pc.is_in(old.column("record_id"), value_set=ids)))
        merged = pa.concat_tables([kept, table]).sort_by([("source_index", "ascending"), ("sample_idx", "ascending")])
        return self._write(name, merged, {**provenance, "replaced_records": len(ids)})

    def _write(self, name: str, table: pa.Table, provenance: dict[str, Any]) -> Path:
        if not table.schema.equals(self.schema):
            raise ArtifactError(f"internal: shard schema {table.schema} differs from the declared {self.schema}")
        stamped = {**provenance, "part": name, "rows": table.num_rows, "written_at": _now()}
        table = table.replace_schema_metadata({PROVENANCE_KEY: canonical_json(stamped).encode()})
        sink = pa.BufferOutputStream()
        pq.write_table(table, sink, compression="zstd")
        data = sink.getvalue().to_pybytes()
        tmp, marker_file = self.meta / "tmp" / name, self.meta / "done" / f"{name}.json"
        marker = {"file": name, "rows": table.num_rows, "sha256": hashlib.sha256(data).hexdigest()}
        try:
            _write_fsynced(tmp, data)
            write_atomic(marker_file, json.dumps(marker))  # the commit point
        except OSError as err:
            tmp.unlink(missing_ok=True)
            marker_file.with_name(marker_file.name + ".writing").unlink(missing_ok=True)
            raise ArtifactError(
                f"{self.path}: cannot write shard {name} ({err.strerror or err}); it was not committed and every "
                "shard before it is intact. Free some space and run the same command again: it resumes"
            ) from err
        os.replace(tmp, self.path / name)
        _fsync_dir(self.path)
        return self.path / name


def verify_shards(folder: Path, shards: list[Path]) -> None:
    """Refuse to read a shard whose bytes no longer match the sha256 in its completion marker (a truncated or
    altered file). Shards without a marker (a folder of Parquet files not written by the harness) pass."""
    done = Path(folder) / META_DIR / "done"
    for shard in shards:
        marker = done / f"{shard.name}.json"
        try:
            expected = json.loads(marker.read_text()).get("sha256")
        except (OSError, json.JSONDecodeError, AttributeError):
            continue
        if expected and _sha256(shard) != expected:
            raise ArtifactError(
                f"{shard}: corrupted (its sha256 no longer matches {marker}); run the stage that wrote this "
                "folder again with the same flags: it regenerates this shard's rows"
            )


def _differences(before: Any, now: Any, prefix: str = "") -> list[tuple[str, Any, Any]]:
    """(dotted key, old, new) for each setting that differs, into nested mappings: `sampling.max_tokens`, not
    both sampling dicts whole."""
    if not (isinstance(before, dict) and isinstance(now, dict)):
        return [] if before == now else [(prefix.rstrip("."), before, now)]
    return [
        difference
        for key in sorted(before.keys() | now.keys())
        for difference in _differences(before.get(key), now.get(key), f"{prefix}{key}.")
    ]


def generated_by(provenance: dict[str, Any]) -> dict[str, Any] | None:
    """The model that generated an artifact's texts: its own `model` for a generating stage, or what a derived
    stage (judge, select) carried over from its input as `generated_by`. Reports count lengths in its tokens."""
    carried = provenance.get("generated_by")
    if carried:
        return carried
    model = provenance.get("model")
    return model if isinstance(model, dict) and provenance.get("stage") not in ("judge",) else None


def read_provenance(shard: Path) -> dict[str, Any]:
    metadata = pq.read_schema(shard).metadata or {}
    return json.loads(metadata.get(PROVENANCE_KEY, b"{}"))


def git_revision() -> str | None:
    """The harness checkout's commit (with '+dirty' when it has uncommitted changes), None when not a checkout."""
    here = Path(__file__).resolve().parent
    try:
        rev = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5)
        if rev.returncode != 0:
            return None
        dirty = subprocess.run(["git", "status", "--porcelain"], cwd=here, capture_output=True, text=True, timeout=5)
        return rev.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return None


def base_provenance() -> dict[str, Any]:
    return {"harness_version": __version__, "git_revision": git_revision(), "started_at": _now()}


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _read_markers(folder: Path) -> Iterator[dict[str, Any]]:
    for marker in sorted(folder.glob("*.json")):
        try:
            yield json.loads(marker.read_text())
        except (json.JSONDecodeError, OSError):
            marker.unlink()  # markers are written atomically; a broken one cannot be a commit


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def write_atomic(path: Path, data: str | bytes) -> None:
    """Write `data` (text as UTF-8) to `path` so that readers see the old file or the whole new one, and a
    crash right after keeps it: written and fsynced as PATH.writing, renamed over PATH, its folder fsynced."""
    tmp = path.with_name(path.name + ".writing")
    _write_fsynced(tmp, data.encode() if isinstance(data, str) else data)
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def write_json_atomic(path: Path, obj: Any) -> None:
    """`obj` as indented JSON with sorted keys and a final newline, through `write_atomic`."""
    write_atomic(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


def _write_fsynced(path: Path, data: bytes) -> None:
    """Write and fsync in place (a shard under tmp/, renamed only after its marker is written)."""
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
