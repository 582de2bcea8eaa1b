"""`harness synth`: input rows -> render -> cache -> engine -> parse -> Parquet shards, in bounded batches.

Each batch is committed (one atomic shard) before the next starts, so a kill loses at most the batch in
flight; a rerun with the same output folder skips every row already written. A request the engine failed
for good (a remote server that kept erroring) becomes rows with an `engine_error` verdict; a rerun
generates those records again and puts their new rows in place of the failed ones.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import Any

from rich.console import Console

from harness.artifacts import ArtifactWriter, base_provenance
from harness.backends import ENGINES, make_backend
from harness.cache import GenerationCache, cached_generate
from harness.config import ConfigError, SynthConfig
from harness.models import ResolvedModel, resolve_model
from harness.progress import StageProgress
from harness.records import Verdict, to_table, traces_schema, verdict_fields
from harness.sources import SourceRow, open_source
from tasks import get_task
from tasks.base import Task

BUNDLED_SAMPLES = {"backfill": "backfill_sample.jsonl"}


@dataclass
class SynthSummary:
    output: str
    rows_in: int = 0  # input rows handled by this run
    rows_skipped: int = 0  # already in the output from an earlier run
    rows_out: int = 0  # output rows written by this run (rows_in x n)
    valid: int = 0
    rejected_inputs: int = 0
    engine_errors: int = 0  # rows whose request failed for good; a rerun retries them
    retried_rows: int = 0  # rows of earlier failed requests handled again by this run
    cache_hits: int = 0
    generated_tokens: int = 0
    seconds: float = 0.0
    rejection_reasons: dict[str, int] = field(default_factory=dict)
    artifact_rows: int = 0  # the whole artifact, earlier runs included
    artifact_valid: int = 0
    engine_usage: dict[str, Any] = field(default_factory=dict)  # remote engines: requests, retries, tokens, cost

    @property
    def share_valid(self) -> float:
        return self.valid / self.rows_out if self.rows_out else 0.0

    @property
    def tokens_per_second(self) -> float:
        return self.generated_tokens / self.seconds if self.seconds else 0.0


def bundled_sample(task: str) -> Path:
    if task not in BUNDLED_SAMPLES:
        raise ConfigError(f"task {task!r} has no bundled sample; pass --input FILE")
    return Path(str(files("harness") / "data" / BUNDLED_SAMPLES[task]))


def run_synth(cfg: SynthConfig, console: Console | None = None) -> SynthSummary:
    console = console or Console(stderr=True)
    if cfg.engine not in ENGINES:
        raise ConfigError(f"unknown engine {cfg.engine!r}; engines are: {', '.join(sorted(ENGINES))}")
    try:
        task = get_task(cfg.task, **_task_options(cfg))
    except ValueError as err:
        raise ConfigError(str(err)) from err
    params = cfg.sampling.apply(task.defaults)
    unknown = set(cfg.columns) - set(task.columns)
    if unknown:
        raise ConfigError(f"task {task.name} has no column(s) {sorted(unknown)}; it reads {sorted(task.columns)}")
    required = {logical: cfg.columns.get(logical, default) for logical, default in task.columns.items()}
    input_spec = str(bundled_sample(cfg.task)) if cfg.input == "sample" else cfg.input
    source = open_source(input_spec, required, cfg.split)  # whole-input checks, before any model loads
    model = _resolve_model(cfg)
    shard = cfg.shard_parts()
    schema = traces_schema(task.fields)
    identity = {
        "task": task.name,
        "task_version": task.version,
        "template_hash": task.template_hash(),
        "input": source.label,
        "columns": required,
        "model": model.fingerprint,
        "engine": cfg.engine,
        "sampling": params.to_dict(),
        "shard": cfg.shard,
    }
    label = f"s{shard[0]}of{shard[1]}" if shard else None
    summary = SynthSummary(output=str(Path(cfg.output)))
    with ArtifactWriter(Path(cfg.output), schema, identity, label).open(cfg.model_dump()) as writer:
        done = writer.done_record_ids()
        failed = writer.failed_records()  # record_id -> the shard whose failed rows its new rows replace
        pending = _pending(source.rows(), cfg.limit, shard, done, summary)
        total = _expected_rows(source.count, cfg.limit, shard, len(done))
        batches = _batched(pending, cfg.batch_size)
        first = next(batches, None)
        if first is None:  # nothing left to do: a finished run resumes without loading the model
            summary.artifact_rows, summary.artifact_valid = writer.rows_written(), writer.valid_rows()
            return summary
        cache = GenerationCache.default() if cfg.cache else None
        backend = make_backend(cfg.engine, model.path, **_engine_options(cfg))
        provenance = {
            **base_provenance(),
            **identity,
            "model": model.to_dict(),
            "engine": backend.describe(),
            "input": {"label": source.label, **source.fingerprint},
            "config": cfg.model_dump(),
        }
        try:
            with StageProgress(f"synth {task.name}", total, console) as progress:
                for batch in itertools.chain([first], batches):
                    before = backend.usage_totals()
                    rows, tokens, hits = _run_batch(task, backend, cache, batch, required, params, model.fingerprint)
                    usage = _usage_delta(before, backend.usage_totals())
                    _write_batch(
                        writer, schema, rows, failed, {**provenance, **({"engine_usage": usage} if usage else {})}
                    )
                    _tally(summary, rows, len(batch), tokens, hits, failed)
                    progress.advance(len(batch), tokens)
            summary.seconds = progress.elapsed
            summary.engine_usage = backend.usage_totals()
            summary.artifact_rows, summary.artifact_valid = writer.rows_written(), writer.valid_rows()
        finally:
            if cache is not None:
                cache.close()
            backend.close()
    return summary


def _run_batch(task: Task, backend, cache, batch: list[SourceRow], required, params, model_fp):
    """Rows for one batch in input order: rejected inputs first get their verdicts, the rest are generated."""
    out: list[dict[str, Any]] = []
    accepted: list[tuple[SourceRow, dict[str, Any]]] = []
    for row in batch:
        values = {logical: row.values.get(column) for logical, column in required.items()}
        checks = task.check(values)
        if all(v.passed for v in checks):
            accepted.append((row, values))
        else:
            out.append({**_identity(task, row, 0), **task.rejected(values), **verdict_fields(checks)})
    requests = [task.render(values) for _, values in accepted]
    completions, hits = cached_generate(backend, cache, requests, params, model_fp)
    for (row, values), samples in zip(accepted, completions, strict=True):
        for completion in samples:
            if completion.is_error:  # nothing to parse: the inputs as given and the reason
                fields, verdicts = task.rejected(values), [Verdict("engine_error", False, completion.error or "")]
            else:
                fields, verdicts = task.parse(values, completion)
            out.append(
                {
                    **_identity(task, row, completion.sample_idx),
                    **fields,
                    "completion": None if completion.is_error else completion.text,
                    "finish_reason": completion.finish_reason,
                    "prompt_tokens": completion.prompt_tokens,
                    "completion_tokens": completion.completion_tokens,
                    **verdict_fields(verdicts),
                }
            )
    # Throughput counts only what the engine generated now, not what the cache replayed.
    tokens = sum(
        c.completion_tokens for samples, hit in zip(completions, hits, strict=True) if not hit for c in samples
    )
    out.sort(key=lambda r: (r["source_index"], r["sample_idx"]))
    return out, tokens, sum(hits)


def _write_batch(writer, schema, rows: list[dict[str, Any]], failed: dict[str, str], provenance) -> None:
    """New records go to a new shard; retried records go back into the shard that held their failed rows."""
    retried: dict[str, list[dict[str, Any]]] = {}
    fresh = []
    for row in rows:
        if row["record_id"] in failed:
            retried.setdefault(failed[row["record_id"]], []).append(row)
        else:
            fresh.append(row)
    if fresh:
        writer.commit(to_table(fresh, schema), provenance)
    for shard, replacement in retried.items():
        writer.replace_records(shard, to_table(replacement, schema), provenance)


def _usage_delta(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    return {k: v - (before.get(k) or 0) for k, v in after.items() if isinstance(v, int | float)}


def _identity(task: Task, row: SourceRow, sample_idx: int) -> dict[str, Any]:
    return {
        "record_id": row.record_id,
        "parent_id": row.parent_id,
        "source_index": row.index,
        "sample_idx": sample_idx,
        "task": task.name,
        "task_version": task.version,
        "template_hash": task.template_hash(),
    }


def _pending(rows: Iterator[SourceRow], limit, shard, done: set[str], summary: SynthSummary) -> Iterator[SourceRow]:
    for row in rows:
        if limit is not None and row.index >= limit:
            return
        if shard is not None and int(row.record_id[:8], 16) % shard[1] != shard[0]:
            continue
        if row.record_id in done:
            summary.rows_skipped += 1
            continue
        yield row


def _expected_rows(count: int | None, limit: int | None, shard, done: int) -> int | None:
    if count is None:
        return None
    rows = min(count, limit) if limit is not None else count
    if shard is not None:
        rows = round(rows / shard[1])  # the hash split is even in expectation; the bar shows an estimate
    return max(rows - done, 0)


def _batched(rows: Iterator[SourceRow], size: int) -> Iterator[list[SourceRow]]:
    while batch := list(itertools.islice(rows, size)):
        yield batch


def _tally(summary: SynthSummary, rows, rows_in: int, tokens: int, hits: int, failed: dict[str, str]) -> None:
    summary.rows_in += rows_in
    summary.rows_out += len(rows)
    summary.cache_hits += hits
    summary.generated_tokens += tokens
    for row in rows:
        summary.retried_rows += row["record_id"] in failed
        if row["valid"]:
            summary.valid += 1
        else:
            if row.get("finish_reason") is None:  # rejected before any generation
                summary.rejected_inputs += 1
            elif row["finish_reason"] == "error":
                summary.engine_errors += 1
            reason = row["rejection_reason"].split(":")[0]
            summary.rejection_reasons[reason] = summary.rejection_reasons.get(reason, 0) + 1


def _task_options(cfg: SynthConfig) -> dict[str, Any]:
    if cfg.system_prompt is None:
        return {}
    text = cfg.system_prompt
    if text.startswith("@"):
        try:
            text = Path(text[1:]).read_text(encoding="utf-8")
        except OSError as err:
            raise ConfigError(f"system_prompt: cannot read {text[1:]} ({err.strerror})") from err
    return {"system_prompt": text}


def _resolve_model(cfg: SynthConfig) -> ResolvedModel:
    """Local engines load a model; the `openai` engine sends a name the server serves, as given."""
    if cfg.engine != "openai":
        return resolve_model(cfg.model)
    if cfg.openai.base_url is None:
        raise ConfigError("--engine openai needs --base-url, e.g. http://127.0.0.1:8000/v1")
    if cfg.model == "default":
        raise ConfigError("--engine openai needs --model NAME: the model name the server serves (GET /v1/models)")
    return ResolvedModel(cfg.model, cfg.model, f"openai:{cfg.model}", "remote")


def _engine_options(cfg: SynthConfig) -> dict[str, Any]:
    threads = {"threads": cfg.threads} if cfg.threads else {}
    if cfg.engine == "vllm":
        return {**threads, **cfg.vllm.model_dump()}
    if cfg.engine == "openai":
        return cfg.openai.model_dump()
    return threads
