"""`harness lineage`: a row's chain back to its source row, or what trained a model. Reads only.

Each hop is one artifact row: the artifact and shard, the row's fields, its verdicts and judge scores with
their reasons, the prompt rebuilt from task + template hash + the row's inputs, and what the shard's
provenance says made it (stage, model and its fingerprint, engine, sampling, seed). The next hop is found from
the row and its shard's provenance:

    select best-of-n   -> the judged row: record_id = parent_id, candidate_idx = parent_candidate_idx
    select pairs       -> both judged rows: candidate_idx = chosen_candidate_idx and rejected_candidate_idx
    judge, decontam    -> the input row with the same record_id and sample_idx (and variant)
    synth              -> the source row at source_index in the input file (its record_id is checked)

A shard whose bytes no longer match its completion marker, an input that moved, or an input file whose hash
or size differs from the one recorded, is reported at the hop where the chain breaks, and the walk stops there.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from rich.console import Console

from harness.artifacts.reader import input_label
from harness.artifacts.sources import InputError, open_source
from harness.artifacts.writer import META_DIR, PART_RE, read_provenance
from harness.config import ConfigError, LineageConfig

TRAIN_PROVENANCE = "harness-train.json"
MAX_DEPTH = 16
PROVENANCE_FIELDS = ("model", "engine", "sampling", "task", "task_version", "template_hash", "judges", "judge", "mode")


@dataclass
class Hop:
    artifact: str
    stage: str
    shard: str | None = None
    row: dict[str, Any] = field(default_factory=dict)
    prompt: Any = None  # the rebuilt prompt: text, or chat messages
    made_by: dict[str, Any] = field(default_factory=dict)  # model, engine, sampling, seed, task, template
    verdicts: list[dict[str, Any]] = field(default_factory=list)
    judges: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> score, reason
    problems: list[str] = field(default_factory=list)  # where and why the chain breaks
    parents: list[Hop] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ModelLineage:
    model: str
    method: str | None
    recipe: str | None
    base_model: dict[str, Any]
    input: dict[str, Any]
    rows: dict[str, Any]
    decontam: dict[str, Any] | None
    chain: list[dict[str, Any]]  # the input artifact and those it came from: path, stage, rows, per-task counts
    problems: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def is_model_dir(path: Path) -> bool:
    return (path / TRAIN_PROVENANCE).is_file()


# -- a row's chain ---------------------------------------------------------------------------------------
def row_lineage(path: str | Path, record_id: str, sample: int | None = None) -> list[Hop]:
    """One chain per row of `path` with this record_id (only sample `sample` when given)."""
    path = Path(path)
    if is_model_dir(path):
        path = Path(_train_input(path)["label"])
    found = _rows(path, record_id, lambda row: sample is None or row.get("sample_idx") == sample)
    if not found:
        which = f" and sample_idx {sample}" if sample is not None else ""
        raise InputError(f"{path}: no row with record_id {record_id}{which}")
    return [_walk(path, shard, row, 0) for shard, row in found]


def _walk(path: Path, shard: Path, row: dict[str, Any], depth: int) -> Hop:
    provenance = read_provenance(shard)
    stage = provenance.get("stage") or ("synth" if provenance.get("task") else "artifact")
    hop = Hop(str(path), stage, shard.name, row, made_by=_made_by(provenance))
    hop.verdicts = list(row.get("verdicts") or [])
    hop.judges = _judges(row)
    hop.prompt = _prompt(row, provenance, hop.problems)
    if (changed := _shard_changed(path, shard)) is not None:
        hop.problems.append(changed)
        return hop
    if depth >= MAX_DEPTH:
        return hop
    upstream = input_label(provenance)
    if upstream is None:
        return hop
    if stage == "synth" or not Path(upstream).is_dir():
        hop.parents.append(_source_hop(upstream, provenance, row))
        return hop
    missing = _inputs_changed(Path(upstream), provenance)
    if missing:
        hop.problems.append(missing)
        return hop
    try:
        parents = _parent_rows(Path(upstream), stage, provenance, row)
    except InputError as err:  # an unreadable shard upstream: the chain breaks there, the hops so far stand
        hop.problems.append(f"chain breaks: {err}")
        return hop
    for parent_shard, parent in parents:
        hop.parents.append(_walk(Path(upstream), parent_shard, parent, depth + 1))
    if not hop.parents:
        hop.problems.append(f"chain breaks: {upstream} has no row this one was made from")
    return hop


def _parent_rows(upstream: Path, stage: str, provenance: dict[str, Any], row: dict[str, Any]):
    if stage == "select" and "parent_candidate_idx" in row:
        wanted = {row["parent_candidate_idx"]}
        return _rows(upstream, row["parent_id"], lambda r: r.get("candidate_idx") in wanted)
    if stage == "select":
        wanted = {row.get("chosen_candidate_idx"), row.get("rejected_candidate_idx")}
        return _rows(upstream, row["parent_id"], lambda r: r.get("candidate_idx") in wanted)
    keys = [k for k in ("sample_idx", "variant", "candidate_idx") if k in row]
    return _rows(upstream, row["record_id"], lambda r: all(r.get(k) == row[k] for k in keys if k in r))


def _rows(path: Path, record_id: str, keep) -> list[tuple[Path, dict[str, Any]]]:
    if not path.is_dir():
        raise InputError(f"{path}: no such artifact folder")
    shards = sorted(p for p in path.glob("*.parquet") if PART_RE.match(p.name))
    if not shards:
        raise InputError(f"{path}: not a harness artifact (no part-*.parquet shards)")
    found = []
    for shard in shards:
        try:
            ids = pq.read_table(shard, columns=["record_id"]).column("record_id")
            hits = pc.indices_nonzero(pc.equal(ids, record_id)).to_pylist()
            table = pq.read_table(shard).take(hits) if hits else None
        except (OSError, pa.ArrowException) as err:
            raise InputError(f"{shard}: corrupted, not a readable Parquet file ({type(err).__name__})") from err
        found += [(shard, r) for r in table.to_pylist() if keep(r)] if table is not None else []
    return found


def _source_hop(label: str, provenance: dict[str, Any], row: dict[str, Any]) -> Hop:
    """The input file's row at source_index, after checking the file is the one synth read."""
    hop = Hop(label, "source")
    index = row.get("source_index")
    recorded = (provenance.get("input") or {}).get("files") or {}
    try:
        source = open_source(label, {})
    except (InputError, OSError) as err:
        hop.problems.append(f"chain breaks: the source {label} cannot be read any more ({err})")
        return hop
    now = source.fingerprint.get("files") or {}
    changed = [f for f, digest in recorded.items() if now.get(f) != digest]
    if changed:
        hop.problems.append(f"chain breaks: {changed[0]} changed since synth read it (sha256 differs)")
        return hop
    for source_row in source.rows():
        if source_row.index == index:
            hop.row = {"source_index": index, **source_row.values}
            if source_row.record_id != row.get("record_id"):
                hop.problems.append(f"source row {index} hashes to {source_row.record_id}, not {row.get('record_id')}")
            return hop
    hop.problems.append(f"chain breaks: {label} has no row {index}")
    return hop


# -- what each hop says ----------------------------------------------------------------------------------
def _made_by(provenance: dict[str, Any]) -> dict[str, Any]:
    made = {k: provenance[k] for k in PROVENANCE_FIELDS if provenance.get(k) is not None}
    sampling = provenance.get("sampling") or {}
    if isinstance(sampling, dict) and sampling.get("seed") is not None:
        made["seed"] = sampling["seed"]
    if provenance.get("generated_by"):
        made["generated_by"] = provenance["generated_by"]
    if provenance.get("decontam"):
        made["decontam"] = {k: v for k, v in provenance["decontam"].items() if k != "columns"}
    return made


def _judges(row: dict[str, Any]) -> dict[str, dict[str, Any]]:
    names = [k.removeprefix("judge_").removesuffix("_score") for k in row if k.startswith("judge_") and k.endswith("_score")]  # fmt: skip
    return {n: {"score": row.get(f"judge_{n}_score"), "reason": row.get(f"judge_{n}_reason")} for n in names}


def _prompt(row: dict[str, Any], provenance: dict[str, Any], problems: list[str]) -> Any:
    """The prompt the task sent for this row, rebuilt from the task, its options and the row's inputs."""
    from tasks import get_task

    name = row.get("task") or provenance.get("task")
    if not name or "template_hash" not in row:
        return None
    try:
        task = get_task(name, **(provenance.get("task_options") or {}))
        request = task.render(task.values_from_output(row), row.get("variant") or "")
    except (ValueError, KeyError, TypeError) as err:
        problems.append(f"the prompt cannot be rebuilt: {err}")
        return None
    if task.template_hash() != row["template_hash"]:
        problems.append(
            f"task {name}'s template is now {task.template_hash()}, the row was made with {row['template_hash']}: "
            "the rebuilt prompt is today's template, not the one sent"
        )
    return request.prompt if request.prompt is not None else [dict(m) for m in request.messages]


def _shard_changed(path: Path, shard: Path) -> str | None:
    marker = path / META_DIR / "done" / f"{shard.name}.json"
    if not marker.is_file():
        return f"chain breaks: {shard} has no completion marker"
    digest = hashlib.sha256(shard.read_bytes()).hexdigest()
    if json.loads(marker.read_text()).get("sha256") != digest:
        return f"chain breaks: {shard} changed since it was written (sha256 differs from its marker)"
    return None


def _inputs_changed(upstream: Path, provenance: dict[str, Any]) -> str | None:
    """The input folder's shards against the sizes the stage recorded (judge, decontam record them)."""
    if not upstream.is_dir():
        return f"chain breaks: the input {upstream} is gone (moved or deleted)"
    recorded = (provenance.get("input") or {}).get("files") if isinstance(provenance.get("input"), dict) else None
    for name, size in (recorded or {}).items():
        shard = upstream / name
        if not shard.is_file():
            return f"chain breaks: {shard} is gone (moved or deleted)"
        if isinstance(size, int) and shard.stat().st_size != size:
            return f"chain breaks: {shard} changed since it was read ({shard.stat().st_size} bytes, was {size})"
    return None


# -- a trained model -------------------------------------------------------------------------------------
def _train_input(model: Path) -> dict[str, Any]:
    return json.loads((model / TRAIN_PROVENANCE).read_text()).get("input") or {}


def model_lineage(model: str | Path) -> ModelLineage:
    model = Path(model)
    if not is_model_dir(model):
        raise InputError(f"{model}: not a `harness train` output (no {TRAIN_PROVENANCE})")
    prov = json.loads((model / TRAIN_PROVENANCE).read_text())
    data = prov.get("input") or {}
    out = ModelLineage(
        str(model), prov.get("method"), prov.get("recipe"), prov.get("model") or {}, data,
        prov.get("rows") or {}, prov.get("decontam"), [],
    )  # fmt: skip
    label = data.get("label")
    recorded = data.get("files") or {}
    if label:
        try:
            now = open_source(label, {}).fingerprint.get("files") or {}
        except (InputError, OSError) as err:
            out.problems.append(f"chain breaks: the training input {label} cannot be read any more ({err})")
            return out
        changed = [f for f, digest in recorded.items() if now.get(f) != digest]
        if changed:
            out.problems.append(f"chain breaks: {changed[0]} changed since training read it (sha256 differs)")
            return out
        out.chain = _artifact_chain(Path(label))
    return out


def _artifact_chain(path: Path) -> list[dict[str, Any]]:
    """The training input and every artifact it came from, with row counts (per task, per run's input)."""
    chain = []
    for _ in range(MAX_DEPTH):
        shards = sorted(p for p in path.glob("*.parquet") if PART_RE.match(p.name)) if path.is_dir() else []
        if not shards:
            if str(path) and path.exists():
                chain.append({"artifact": str(path), "stage": "source"})
            break
        provenance = read_provenance(shards[-1])
        names = pq.read_schema(shards[0]).names
        tasks: Counter[str] = Counter()
        rows = 0
        for shard in shards:
            rows += pq.ParquetFile(shard).metadata.num_rows
            if "task" in names:
                tasks.update(str(t) for t in pq.read_table(shard, columns=["task"]).column("task").to_pylist())
        chain.append(
            {
                "artifact": str(path),
                "stage": provenance.get("stage") or ("synth" if provenance.get("task") else "artifact"),
                "rows": rows,
                "rows_per_task": dict(tasks),
                "made_by": _made_by(provenance),
            }
        )
        upstream = input_label(provenance)
        if upstream is None:
            break
        path = Path(upstream)
    return chain


@dataclass
class LineageRun:
    """What `harness lineage` found: the model's making (a model folder) and each traced row's hops."""

    model: ModelLineage | None
    chains: list[Hop]


def run_lineage(cfg: LineageConfig, console: Console | None = None) -> LineageRun:
    """The stage: a model folder's training lineage and/or one record traced back to its source row."""
    path = Path(cfg.path)
    model = is_model_dir(path)
    if cfg.record is None and not model:
        raise ConfigError("give --record ID for an artifact folder (or a model folder)")
    made = model_lineage(path) if model else None
    return LineageRun(made, row_lineage(path, cfg.record, cfg.sample) if cfg.record is not None else [])
