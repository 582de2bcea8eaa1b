"""Reading a finished artifact folder: its shards, schema, run settings, provenance and summaries.

`harness report` and `harness push` read artifacts that any stage wrote (synth, eval, judge, pairs). Nothing
here writes: the folder is checked (committed shards, one schema) and then streamed in record batches, so
memory holds one batch at a time however large the artifact is.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from harness.artifacts.writer import META_DIR, PART_RE, ArtifactError, read_provenance, verify_shards
from harness.cost import add_costs

# Provenance keys that differ from shard to shard of one run; without them, one run's shards share one dict.
PER_SHARD_KEYS = (
    "part", "rows", "written_at", "drawn_ids", "lm_eval", "derived_from", "replaced_records", "input_span",
    "decontam_rows", "engine_usage", "cost", "rescore_flips",
)  # fmt: skip
JUDGE_SUMMARY = "judge_summary.json"  # the judge stage's summary, in DIR itself (cross-team contract)
EVAL_SUMMARY = "summary.json"  # the eval stage's summary, in DIR/.harness/
BATCH_ROWS = 8192


@dataclass
class Run:
    """One run that wrote shards into the artifact (a resumed artifact has several)."""

    provenance: dict[str, Any]  # without the per-shard keys
    shards: int = 0
    rows: int = 0
    first_written: str | None = None
    last_written: str | None = None
    cost: dict[str, Any] | None = None  # its shards' cost blocks added up, when priced (harness/cost.py)

    @property
    def seconds(self) -> float | None:
        """Wall time from the run's start to its last shard (model load included); None when unknown."""
        start, end = self.provenance.get("started_at"), self.last_written
        if not start or not end:
            return None
        return max((datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds(), 0.0)


@dataclass
class Artifact:
    path: Path
    shards: list[Path]
    schema: pa.Schema
    rows: int
    runs: list[Run] = field(default_factory=list)
    run_identity: dict[str, Any] = field(default_factory=dict)  # .harness/run.json
    config_file: Path | None = None
    judge_summary: dict[str, Any] | None = None
    eval_summary: dict[str, Any] | None = None

    @property
    def kind(self) -> str:
        """What wrote it, from its columns: judge, eval, pairs or synth."""
        names = set(self.schema.names)
        if any(n.startswith("judge_") for n in names):
            return "judge"
        if {"subject", "lm_eval_task"} <= names:
            return "eval"
        if {"chosen", "rejected"} <= names:
            return "pairs"
        if "completion" in names:
            return "synth"
        return "artifact"

    @property
    def cost(self) -> dict[str, Any] | None:
        """What every run that wrote the artifact cost, when any was priced."""
        return add_costs(run.cost for run in self.runs)

    @property
    def provenance(self) -> dict[str, Any]:
        """The latest run's provenance (the settings a resume must share are the same in every run)."""
        return self.runs[-1].provenance if self.runs else {}

    def has(self, *columns: str) -> bool:
        return all(c in self.schema.names for c in columns)

    def batches(self, columns: list[str], batch_rows: int = BATCH_ROWS) -> Iterator[pa.RecordBatch]:
        """Stream `columns` (those present) over every shard, one record batch at a time."""
        present = [c for c in columns if c in self.schema.names]
        for shard in self.shards:
            # pre_buffer=False: pyarrow otherwise keeps every row group read until the file closes
            parquet = pq.ParquetFile(shard, pre_buffer=False)
            yield from parquet.iter_batches(batch_size=batch_rows, columns=present)


def row_chunks(batches: Iterable[pa.RecordBatch], size: int, start: int = 0) -> Iterator[tuple[int, pa.Table]]:
    """(first row, table of up to `size` rows) from row `start` on, across batches of any size: a stage that
    commits one shard per chunk, with the rows it covers (decontam, rescore), resumes after its last one."""
    pending: list[pa.RecordBatch] = []
    pending_rows, position = 0, 0  # position: the row after the last one read
    first = start
    for batch in batches:
        if position + batch.num_rows <= start:
            position += batch.num_rows
            continue
        if position < start:
            batch = batch.slice(start - position)
            position = start
        position += batch.num_rows
        pending.append(batch)
        pending_rows += batch.num_rows
        while pending_rows >= size:
            table = pa.Table.from_batches(pending).combine_chunks()
            yield first, table.slice(0, size)
            rest = table.slice(size)
            pending, pending_rows, first = rest.to_batches(), rest.num_rows, first + size
    if pending_rows:
        yield first, pa.Table.from_batches(pending).combine_chunks()


def open_artifact(path: Path | str) -> Artifact:
    """Check that `path` is a harness artifact folder and read everything but its rows."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ArtifactError(f"{path}: is a file, not an artifact folder")
    if not path.is_dir():
        raise ArtifactError(f"{path}: no such artifact folder")
    shards = sorted(p for p in path.glob("*.parquet") if PART_RE.match(p.name))
    done = path / META_DIR / "done"
    if not shards or not done.is_dir():
        raise ArtifactError(f"{path}: not a harness artifact (expected part-*.parquet shards and {META_DIR}/done/)")
    uncommitted = [s.name for s in shards if not (done / f"{s.name}.json").exists()]
    if uncommitted:
        raise ArtifactError(f"{path}: shard {uncommitted[0]} has no completion marker; was its run interrupted?")
    verify_shards(path, shards)
    schema, rows, runs = _read_shards(path, shards)
    meta = path / META_DIR
    return Artifact(
        path=path,
        shards=shards,
        schema=schema,
        rows=rows,
        runs=runs,
        run_identity=_read_json(meta / "run.json") or {},
        config_file=meta / "config.yaml" if (meta / "config.yaml").is_file() else None,
        judge_summary=_read_json(path / JUDGE_SUMMARY),
        eval_summary=_read_json(meta / EVAL_SUMMARY),
    )


def refuse_inside(folder: Path, artifacts: list[Artifact], flag: str) -> None:
    """Outputs never go into an artifact folder: `datasets` would read what they hold as the artifact's data."""
    target = folder.resolve()
    for artifact in artifacts:
        if target == artifact.path.resolve() or target.is_relative_to(artifact.path.resolve()):
            raise ArtifactError(
                f"{flag} {folder}: is inside the artifact folder {artifact.path}; give it a folder of its own"
            )
    if (folder / META_DIR).exists():
        raise ArtifactError(f"{flag} {folder}: is an artifact folder; give it a folder of its own")


def _read_shards(path: Path, shards: list[Path]) -> tuple[pa.Schema, int, list[Run]]:
    """The shared schema, the row count and the runs, from the shards' footers only."""
    schema: pa.Schema | None = None
    rows = 0
    runs: dict[str, Run] = {}
    for shard in shards:
        try:
            parquet = pq.ParquetFile(shard)
        except (OSError, pa.ArrowInvalid) as err:
            raise ArtifactError(f"{shard}: not a readable Parquet file ({err})") from err
        footer, found = parquet.metadata, parquet.schema_arrow.remove_metadata()
        if schema is None:
            schema = found
        elif not found.equals(schema):
            raise ArtifactError(f"{shard}: schema differs from {shards[0].name}'s; the folder mixes two artifacts")
        rows += footer.num_rows
        stamped = read_provenance(shard)
        provenance = {k: v for k, v in stamped.items() if k not in PER_SHARD_KEYS}
        run = runs.setdefault(json.dumps(provenance, sort_keys=True, default=str), Run(provenance))
        run.shards += 1
        run.rows += footer.num_rows
        run.cost = add_costs([run.cost, stamped.get("cost")])
        written = stamped.get("written_at")
        if written:
            run.first_written = min(filter(None, [run.first_written, written]))
            run.last_written = max(filter(None, [run.last_written, written]))
    assert schema is not None
    ordered = sorted(runs.values(), key=lambda r: r.provenance.get("started_at") or "")
    return schema, rows, ordered


def _read_json(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ArtifactError(f"{path}: not valid JSON ({err})") from err
    if not isinstance(data, dict):
        raise ArtifactError(f"{path}: expected a JSON object at the top level")
    return data


def lineage_cost(artifact: Artifact) -> dict[str, Any] | None:
    """What the artifact cost to make, the artifacts it was made from included (a judged artifact's synth, a
    selection's judging and synth, star's pairs' samples), as far as they are harness artifacts here."""
    return add_costs(current.cost for current in made_from_chain(artifact))


def made_from_chain(artifact: Artifact) -> Iterator[Artifact]:
    """The artifact, then the one it was made from, and so on, as far as they are harness artifacts here: the
    chain a stage that passes rows on (decontam, judge, select) leaves back to the run that generated them."""
    seen: set[Path] = set()
    current: Artifact | None = artifact
    while current is not None and current.path.resolve() not in seen:
        seen.add(current.path.resolve())
        yield current
        current = made_from(current)


def made_from(artifact: Artifact) -> Artifact | None:
    """The artifact this one was made from: its recorded input, or the samples a derived artifact was rebuilt
    from; None when that is no harness artifact on this machine (a dataset, a moved folder)."""
    derived = read_provenance(artifact.shards[0]).get("derived_from") if artifact.shards else None
    label = Path(derived).parent if derived else input_label(artifact.provenance)
    if not label or not (Path(label) / META_DIR / "done").is_dir():
        return None
    try:
        return open_artifact(label)
    except ArtifactError:
        return None


def input_label(provenance: dict[str, Any]) -> str | None:
    """What a stage read, as its provenance names it: a folder or file (`input` or `input.label`)."""
    source = provenance.get("input")
    label = source.get("label") if isinstance(source, dict) else source
    return label if isinstance(label, str) else None
