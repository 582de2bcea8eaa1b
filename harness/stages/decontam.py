"""`harness decontam`: mark every row that shares a word n-gram with an eval set (or drop it with `--drop`).

The input is an artifact folder, or anything synth reads (JSONL, CSV, Parquet, a folder of Parquet files, a saved
dataset, a hub id): users check their own data before `harness train` takes it. The eval sets become one n-gram
index in memory (`harness.evalsets.ngrams`); the input is streamed in batches of `batch_size` rows, each committed as one shard with the input rows it covers (`input_span`), so a killed run
resumes after the last committed batch. Every row keeps its columns and gets:

    decontam_clean     false when some checked text shares an n-gram with an eval item
    decontam_eval_set  which --against set it matched (null when clean)
    decontam_item      the matched eval item's id, e.g. mmlu:anatomy/0042
    decontam_ngram     the shared n-gram, normalized
    decontam_column    the row's column that holds it

The run's provenance (`decontam`: the sets with their fingerprints, n, normalization, columns) is what
`harness train` and `harness push` read to know the data was checked (`harness.evalsets.gate`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from rich.console import Console

from harness.artifacts.reader import open_artifact, row_chunks
from harness.artifacts.sources import arrow_batches, arrow_schema, open_source
from harness.artifacts.writer import META_DIR, ArtifactWriter, base_provenance, generated_by, read_provenance
from harness.config import ConfigError, DecontamConfig
from harness.evalsets.gate import CLEAN
from harness.evalsets.ngrams import NORMALIZATION, Match, NgramIndex
from harness.evalsets.registry import EvalSet, load_eval_set
from harness.progress import StageProgress

FIELDS = [
    pa.field(CLEAN, pa.bool_(), nullable=False),
    pa.field("decontam_eval_set", pa.string()),
    pa.field("decontam_item", pa.string()),
    pa.field("decontam_ngram", pa.string()),
    pa.field("decontam_column", pa.string()),
]
SLICE_BYTES = 4 << 20  # text matched at once
# Text columns that are bookkeeping, not content: never checked by default.
BOOKKEEPING = {
    "record_id", "parent_id", "task", "task_version", "template_hash", "finish_reason", "rejection_reason",
    "judge", "variant", "subject", "id", "mode", "lm_eval_task", "group", "section",
}  # fmt: skip


@dataclass
class DecontamSummary:
    output: str
    against: list[dict[str, Any]]
    ngrams: int = 0  # in the eval index
    rows: int = 0  # checked by this run
    contaminated: int = 0
    dropped: int = 0
    skipped: int = 0  # rows an earlier run had checked
    seconds: float = 0.0
    by_set: dict[str, int] | None = None


@dataclass
class Rows:
    """What decontam reads, as Arrow batches: an artifact folder as it was written, or any input synth reads."""

    label: str
    schema: pa.Schema
    rows: int
    identity: dict[str, Any]  # what a resumed run must read again
    files: dict[str, Any]  # the input's files, for provenance
    upstream: dict[str, Any]  # an artifact's provenance ({} for other inputs)
    folder: Path | None  # an artifact's folder
    batches: Callable[[int], Iterator[pa.RecordBatch]]  # every row, in batches of about N rows


def open_rows(spec: str, split: str) -> Rows:
    path = Path(spec).expanduser()
    if path.is_dir() and (path / META_DIR).is_dir():  # an artifact: its shards as written, checked whole
        artifact = open_artifact(path)
        files = {s.name: s.stat().st_size for s in artifact.shards}
        upstream = read_provenance(artifact.shards[0])
        batches = lambda size: artifact.batches(artifact.schema.names, batch_rows=size)  # noqa: E731
        return Rows(str(path), artifact.schema, artifact.rows, {"input": str(path)}, files, upstream, path, batches)
    source = open_source(spec, {}, split)
    schema, count = arrow_schema(source)  # one pass; rows are then read a batch at a time
    identity = {"input": source.label, "source": source.fingerprint}
    files = source.fingerprint.get("files", source.fingerprint)
    folder = path if path.is_dir() else None
    return Rows(source.label, schema, count, identity, files, {}, folder, lambda _: arrow_batches(source, schema))


def run_decontam(cfg: DecontamConfig, console: Console | None = None) -> DecontamSummary:
    console = console or Console(stderr=True)
    rows = open_rows(cfg.input, cfg.split)
    if rows.folder is not None and Path(cfg.output).resolve().is_relative_to(rows.folder.resolve()):
        raise ConfigError(f"--output {cfg.output}: is inside the input {rows.folder}; give it a folder of its own")
    if CLEAN in rows.schema.names:
        raise ConfigError(f"{cfg.input}: already has {CLEAN}: it went through decontam before")
    columns = _columns(cfg, rows.schema)
    sets = [load_eval_set(spec, cfg.subsets) for spec in cfg.against]
    if not sets:
        raise ConfigError("--against: name at least one eval set (mmlu, FILE[:COLUMN], lm-eval:TASK)")
    index = NgramIndex([text for s in sets for text in s.texts], cfg.ngram)
    owners = _owners(sets)
    against = [s.describe() for s in sets]
    settings = {"against": against, "ngram": cfg.ngram, "normalization": NORMALIZATION, "columns": columns}
    identity = {**rows.identity, "drop": cfg.drop, "subsets": cfg.subsets, **settings}
    schema = pa.schema(list(rows.schema) + FIELDS)
    provenance = {
        **base_provenance(),
        "stage": "decontam",
        "input": {"label": rows.label, "files": rows.files},
        "decontam": {**settings, "drop": cfg.drop},
        "generated_by": generated_by(rows.upstream),
        "config": cfg.model_dump(),
    }
    summary = DecontamSummary(str(Path(cfg.output)), against, ngrams=index.ngrams, by_set={})
    with ArtifactWriter(Path(cfg.output), schema, identity).open(cfg.model_dump()) as writer:
        start = _resume_point(writer)
        summary.skipped = start
        with StageProgress("decontam", rows.rows - start, console, tokens=False) as progress:
            for first, table in row_chunks(rows.batches(cfg.batch_size), cfg.batch_size, start):
                marked = _mark(table, columns, index, owners)
                counts = _count(marked, summary)
                if cfg.drop:
                    marked = marked.filter(marked.column(CLEAN))
                    summary.dropped += counts["contaminated"]
                span = {"input_span": [first, first + table.num_rows], "decontam_rows": counts}
                if marked.num_rows or first + table.num_rows == rows.rows:
                    writer.commit(marked.cast(schema), {**provenance, **span})
                progress.advance(table.num_rows, 0)
            summary.seconds = progress.elapsed
        if not writer.has_shards():  # everything dropped: an empty shard keeps the folder loadable, with its schema
            writer.commit(schema.empty_table(), {**provenance, "input_span": [0, rows.rows]})
    return summary


def _columns(cfg: DecontamConfig, schema: pa.Schema) -> list[str]:
    """The columns whose texts are checked: those named, else every text or messages column that is content."""
    checkable = [f.name for f in schema if _text_type(f.type)]
    if cfg.columns:
        unknown = [c for c in cfg.columns if c not in schema.names]
        if unknown:
            raise ConfigError(f"--columns: {cfg.input} has no column(s) {unknown}; it has {', '.join(schema.names)}")
        wrong = [c for c in cfg.columns if c not in checkable]
        if wrong:
            raise ConfigError(f"--columns: {wrong} hold neither text nor chat messages")
        return list(cfg.columns)
    chosen = [c for c in checkable if c not in BOOKKEEPING and not c.startswith("judge_")]
    if not chosen:
        raise ConfigError(f"{cfg.input}: no text column to check; it has {', '.join(schema.names)}")
    return chosen


def _text_type(kind: pa.DataType) -> bool:
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return True
    if pa.types.is_list(kind) or pa.types.is_large_list(kind):
        item = kind.value_type
        return pa.types.is_struct(item) and item.get_field_index("content") >= 0  # chat messages
    return False


def _owners(sets: list[EvalSet]) -> list[tuple[str, str]]:
    """(set name, item id) for each item of the combined index, in order."""
    return [(s.name, item) for s in sets for item in s.ids]


def _resume_point(writer: ArtifactWriter) -> int:
    """The input rows committed runs have covered: rows before it are not read again."""
    ends = [read_provenance(shard).get("input_span", [0, 0])[1] for shard in writer.shards()]
    return max(ends, default=0)


def _texts(column: pa.ChunkedArray) -> tuple[pa.Array, np.ndarray]:
    """A column's texts and the row each belongs to (messages: one text per message's content)."""
    array = column.combine_chunks()
    if pa.types.is_string(array.type) or pa.types.is_large_string(array.type):
        return array.cast(pa.large_string()), np.arange(len(array))
    rows = pc.list_parent_indices(array).to_numpy(zero_copy_only=False)
    return pc.list_flatten(array).field("content").cast(pa.large_string()), rows


def _mark(table: pa.Table, columns: list[str], index: NgramIndex, owners: list[tuple[str, str]]) -> pa.Table:
    """The table with the decontam columns: each row's first match, in the order of `columns`.

    Every column's texts go to the index in one call (fewer, larger vectorized steps)."""
    pieces = [(name, *_texts(table.column(name))) for name in columns]
    texts = pa.concat_arrays([p[1] for p in pieces])
    rows = np.concatenate([p[2] for p in pieces])
    ends = np.cumsum([len(p[1]) for p in pieces])
    found: list[tuple[str, str, str, str] | None] = [None] * table.num_rows
    for position, match in _matches(index, texts):
        row = int(rows[position])
        if found[row] is None:  # texts are in column order: the first column wins
            name = pieces[int(np.searchsorted(ends, position, side="right"))][0]
            found[row] = (*owners[match.item], match.ngram, name)
    values = list(zip(*[(None,) * 4 if f is None else f for f in found], strict=True)) or [()] * 4
    arrays = [pa.array([f is None for f in found], pa.bool_())]
    arrays += [pa.array(list(v), pa.string()) for v in values]
    for field, array in zip(FIELDS, arrays, strict=True):
        table = table.append_column(field, array)
    return table


def _matches(index: NgramIndex, texts: pa.Array) -> list[tuple[int, Match]]:
    """(text position, match) in text order, matching slices of about SLICE_BYTES of text at a time: the
    arrays of word ids and hashes stay a few tens of MB (and in cache) however long the rows are."""
    sizes = pc.fill_null(pc.binary_length(texts), 0).to_numpy(zero_copy_only=False)
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    found: list[tuple[int, Match]] = []
    start = 0
    while start < len(texts):
        end = max(int(np.searchsorted(offsets, offsets[start] + SLICE_BYTES, side="right")) - 1, start + 1)
        found += [(start + k, m) for k, m in sorted(index.first_matches(texts.slice(start, end - start)).items())]
        start = end
    return found


def _count(marked: pa.Table, summary: DecontamSummary) -> dict[str, int]:
    clean = marked.column(CLEAN)
    contaminated = marked.num_rows - pc.sum(clean.cast(pa.int64())).as_py() if marked.num_rows else 0
    summary.rows += marked.num_rows
    summary.contaminated += contaminated
    for name in marked.column("decontam_eval_set").drop_null().to_pylist():
        summary.by_set[name] = summary.by_set.get(name, 0) + 1
    return {"checked": marked.num_rows, "contaminated": contaminated}
