"""`harness synth`: input rows -> render -> cache -> engine stream -> parse -> Parquet shards.

Each input row is one record (`synth_record`): its variants and samples, and for two-step tasks the
follow-ups it sends as soon as its first steps are back. The records run through the shared streaming loop
(`stream_loop.py`), which keeps the engine's window full; finished records are committed in atomic shards
every `--shard-rows` rows or `--commit-seconds`, a record's rows always in one shard, so a kill loses at most
the records not yet committed (their completions stay in the generation cache) and a rerun with the same
output folder skips every record already written. Shards hold records in the order they finished, each shard
sorted by `source_index`. A request the engine failed for good (a remote server that kept erroring) becomes
rows with an `engine_error` verdict; a rerun generates those records again and puts their new rows in place of
the failed ones. A prompt past the model's context is a `context_overflow` row, counted apart and final: a rerun
with the same settings would fail it again.
"""

from __future__ import annotations

import functools
import itertools
import shutil
from collections.abc import Callable, Container, Iterator
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from rich.console import Console

from harness.artifacts.schemas import Verdict, to_table, traces_schema, verdict_fields
from harness.artifacts.sources import SourceRow, open_source
from harness.artifacts.spill import SpillMap
from harness.artifacts.writer import ArtifactWriter, base_provenance
from harness.config import ConfigError, SynthConfig, read_option_files
from harness.cost import BudgetStop, Ledger
from harness.engines import ENGINES
from harness.engines.base import SamplingParams
from harness.engines.context import OVERFLOW, is_overflow
from harness.engines.generation_config import with_generation_config
from harness.engines.models import ResolvedModel, resolve_engine_model
from harness.engines.session import EngineSession, usage_delta
from harness.engines.stream_loop import Ask, Committer, RecordRun, stream_records
from harness.progress import StageProgress
from harness.stages.replicas import ReplicaJob, run_on_replicas
from tasks import get_task
from tasks.base import Task

# One bundled sample (reasoning-gym pairs) serves every task: question-answer tasks read its columns under
# other names. `--input sample` uses it; explicit column flags still win.
BUNDLED_SAMPLE = "backfill_sample.jsonl"
SAMPLE_COLUMNS = {"question": "instruction", "answer": "solution"}


@dataclass
class SynthSummary:
    output: str
    rows_in: int = 0  # input rows handled by this run
    rows_skipped: int = 0  # already in the output from an earlier run
    rows_out: int = 0  # output rows written by this run (rows_in x n)
    valid: int = 0
    rejected_inputs: int = 0
    engine_errors: int = 0  # rows whose request failed for good; a rerun retries them
    context_overflows: int = 0  # rows whose prompt plus max_tokens passes the model's context: a rerun fails them too
    retried_rows: int = 0  # rows of earlier failed requests handled again by this run
    cache_hits: int = 0
    generated_tokens: int = 0
    seconds: float = 0.0
    rejection_reasons: dict[str, int] = field(default_factory=dict)
    pairs_output: str | None = None
    pairs: int = 0
    artifact_rows: int = 0  # the whole artifact, earlier runs included
    artifact_valid: int = 0
    engine_usage: dict[str, Any] = field(default_factory=dict)  # tokens, engine-seconds; remote: requests, retries
    cost: dict[str, Any] | None = None  # this run's, when priced (harness/cost.py)
    budget_stop: BudgetStop | None = None  # set when --max-cost stopped the run before its end

    @property
    def share_valid(self) -> float:
        return self.valid / self.rows_out if self.rows_out else 0.0

    @property
    def tokens_per_second(self) -> float:
        return self.generated_tokens / self.seconds if self.seconds else 0.0

    def add_record(self, rows: list[dict[str, Any]]) -> None:
        """One finished record's rows into the counts."""
        self.rows_in += 1
        self.rows_out += len(rows)
        for row in rows:
            if row["valid"]:
                self.valid += 1
            else:
                if row.get("finish_reason") is None:  # rejected before any generation
                    self.rejected_inputs += 1
                elif row["finish_reason"] == "error" and row["rejection_reason"].startswith(OVERFLOW):
                    self.context_overflows += 1
                elif row["finish_reason"] == "error":
                    self.engine_errors += 1
                reason = row["rejection_reason"].split(":")[0]
                self.rejection_reasons[reason] = self.rejection_reasons.get(reason, 0) + 1


@dataclass
class SynthRun:
    """What generating and committing a run's records needs, on one engine or on Ray replicas."""

    cfg: SynthConfig
    model: ResolvedModel
    writer: ArtifactWriter
    failed: SpillMap  # record_id -> the shard whose failed rows its new rows replace
    provenance: dict[str, Any]  # every shard's, before the facts of the engine that wrote it
    total: int | None  # input rows expected, for the progress bar
    summary: SynthSummary
    console: Console
    ledger: Ledger

    def commit(self, finished: list[list[dict[str, Any]]], facts: dict[str, Any]) -> None:
        """Finished records into the artifact; their shard also records `facts` (engine, usage, replicas, cost)."""
        shard = {**self.provenance, **self.ledger.charge(facts)}
        self.summary.retried_rows += write_records(self.writer, finished, self.failed, shard)


def bundled_sample() -> Path:
    return Path(str(files("harness") / "data" / BUNDLED_SAMPLE))


def run_synth(cfg: SynthConfig, console: Console | None = None) -> SynthSummary:
    console = console or Console(stderr=True)
    if cfg.engine not in ENGINES:
        raise ConfigError(f"unknown engine {cfg.engine!r}; engines are: {', '.join(sorted(ENGINES))}")
    try:
        task = get_task(cfg.task, **read_option_files(cfg.task_options))
    except ValueError as err:
        raise ConfigError(str(err)) from err
    params = cfg.sampling.apply(task.defaults)
    unknown = set(cfg.columns) - set(task.columns)
    if unknown:
        raise ConfigError(f"task {task.name} has no column(s) {sorted(unknown)}; it reads {sorted(task.columns)}")
    defaults = {**task.columns, **(SAMPLE_COLUMNS if cfg.input == "sample" else {})}
    required = {logical: cfg.columns.get(logical, defaults[logical]) for logical in task.columns}
    input_spec = str(bundled_sample()) if cfg.input == "sample" else cfg.input
    # Whole-input checks, before any model loads.
    source = open_source(input_spec, required, cfg.split, task.text_columns)
    rows = f"{source.count} input rows" if source.count is not None else "input read"
    console.print(f"[synth {task.name}] {rows}; preparing model {cfg.model} ...", highlight=False, markup=False)
    model = _resolve_model(cfg)
    params, from_model = _model_sampling(cfg, task, model, params)
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
        "task_options": cfg.task_options,
    }
    if from_model is not None:  # only then: artifacts written before this setting existed keep their identity
        identity["sampling_from_model"] = from_model
    label = f"s{shard[0]}of{shard[1]}" if shard else None
    summary = SynthSummary(output=str(Path(cfg.output)))
    ledger = Ledger(cfg, Path(cfg.output))
    with ArtifactWriter(Path(cfg.output), schema, identity, label).open(cfg.model_dump()) as writer:
        failed = writer.failed_records()  # record_id -> the shard whose failed rows its new rows replace
        done = writer.done_record_ids(failed)
        pending = _pending(source.rows(writer.meta / "tmp"), cfg.limit, shard, done, summary)
        first = next(pending, None)
        if first is not None:  # a finished run resumes without loading the model
            provenance = {
                **base_provenance(),
                **identity,
                "model": model.to_dict(),
                "input": {"label": source.label, **source.fingerprint},
                "config": cfg.model_dump(),
            }
            total = _expected_rows(source.count, cfg.limit, shard, len(done))
            run = SynthRun(cfg, model, writer, failed, provenance, total, summary, console, ledger)
            rows = itertools.chain([first], pending)
            if cfg.ray is not None:  # the same records, run by engine replicas on a Ray cluster
                _generate_on_ray(run, rows, functools.partial(synth_record, task, required=required, params=params))
            else:
                _generate(run, (synth_record(task, row, required, params) for row in rows))
            summary.cost = ledger.total
            summary.budget_stop = ledger.budget.stop(total - summary.rows_in if total is not None else None)
        summary.artifact_rows, summary.artifact_valid = writer.rows_written(), writer.valid_rows()
        if task.pair_fields is not None:
            summary.pairs_output = cfg.pairs_output or f"{cfg.output}-pairs"
            summary.pairs = write_pairs(task, writer.shards(), Path(summary.pairs_output), identity)
    return summary


def _generate(run: SynthRun, records: Iterator[RecordRun[list[dict[str, Any]]]]) -> None:
    """The records through the shared streaming loop; finished ones are committed by the committer."""
    cfg, summary = run.cfg, run.summary
    with (
        EngineSession(cfg, run.model, cfg.batch_size) as session,
        StageProgress(f"synth {cfg.task}", run.total, run.console) as progress,
    ):
        session.on_status = progress.note  # loading a model says so: minutes of silence read as a hang
        run.ledger.watch(session.usage)
        progress.spend = run.ledger.spent if run.ledger.priced else None
        usage_before: dict[str, Any] = {}

        def write(finished: list[list[dict[str, Any]]]) -> None:
            nonlocal usage_before
            after = session.usage()
            usage = usage_delta(usage_before, after)
            usage_before = after
            # A shard the cache answered whole never built the engine: it records the engine's name only.
            run.commit(finished, {**session.provenance(), **({"engine_usage": usage} if usage else {})})

        committer = Committer(write, len, cfg.shard_rows, cfg.commit_seconds)
        stream = session.open_stream()

        def done(rows: list[dict[str, Any]]) -> None:
            committer.add(rows)
            summary.add_record(rows)
            run.ledger.budget.done()
            progress.advance(1, session.new_tokens(), stream.in_flight)

        try:
            stream_records(run.ledger.budget.gate(records), stream, session.window, done)
        finally:
            stream.close()
            committer.flush()  # finished records are whole: keep them, even when the run is interrupted
        summary.seconds = progress.elapsed
        summary.cache_hits, summary.generated_tokens = session.cache_hits, session.generated_tokens
        summary.engine_usage = session.usage()


def _generate_on_ray(run: SynthRun, rows: Iterator[SourceRow], record: Callable[[SourceRow], RecordRun]) -> None:
    """The same records, each input row's run by an engine replica on a Ray cluster; committed here as the
    single-process loop commits them (a record's rows in one shard)."""

    def tally(record_rows: list[dict[str, Any]]) -> bool:
        run.summary.add_record(record_rows)
        return True  # every finished record is committed: a failed request's rows say so, a rerun retries them

    job = ReplicaJob(
        cfg=run.cfg,
        fingerprint=run.model.fingerprint,
        record=record,
        commit=run.commit,
        rows=len,
        shard_rows=run.cfg.shard_rows,
        key=lambda record_rows: record_rows[0]["record_id"],
        tally=tally,
        progress_rows=lambda record_rows: 1,  # the progress bar counts input rows
        label=f"synth {run.cfg.task}",
        total=run.total,
        engine_batch=run.cfg.batch_size,
    )
    totals = run_on_replicas(job, rows, run.console)
    summary = run.summary
    summary.cache_hits, summary.generated_tokens = totals.cache_hits, totals.generated_tokens
    summary.engine_usage, summary.seconds = totals.engine_usage, totals.seconds


def write_pairs(task: Task, shards: list[Path], target: Path, identity: dict[str, Any]) -> int:
    """Rebuild the pairs artifact from the samples, shard by shard (a record's samples share one shard).

    The pairs are derived data, so they are rebuilt whole after every run rather than resumed.
    """
    schema = pa.schema(task.pair_fields)
    shutil.rmtree(target, ignore_errors=True)
    total = 0
    with ArtifactWriter(target, schema, {**identity, "derived": "pairs"}).open({"pairs_of": identity}) as writer:
        for shard in shards:
            rows = pq.read_table(shard).to_pylist()
            pairs = [
                p for _, group in itertools.groupby(rows, key=lambda r: r["record_id"]) for p in task.pairs(list(group))
            ]
            if pairs:
                writer.commit(to_table(pairs, schema), {**base_provenance(), **identity, "derived_from": str(shard)})
                total += len(pairs)
    return total


def synth_record(task: Task, row: SourceRow, required: dict[str, str], params) -> RecordRun[list[dict[str, Any]]]:
    """One input row's record: yields its requests (every variant at once, so the engine can share their
    common prompt prefix; then, for two-step tasks, the follow-up of each first completion), receives their
    completions and returns its output rows (variants in order, each with its samples). A rejected input
    asks nothing and returns its verdicts. Pure but for the engine: a Ray actor can drive it (`run_record`)."""
    values = {logical: row.values.get(column) for logical, column in required.items()}
    checks = task.check(values)
    if not all(v.passed for v in checks):
        return [{**_identity(task, row, 0), **task.rejected(values), **verdict_fields(checks)}]
    variants = task.variants(values)
    firsts = yield [Ask(task.render(values, variant), params) for variant in variants]
    finals = [list(samples) for samples in firsts]
    if task.two_step:
        # A failed first step has nothing to follow up: it stays the final (error) completion.
        flat = [(b, k) for b, samples in enumerate(firsts) for k, c in enumerate(samples) if not c.is_error]
        if flat:
            follow = task.follow_up_params(params)
            seconds = yield [Ask(task.follow_up(values, variants[b], firsts[b][k]), follow) for b, k in flat]
            for (b, k), [second] in zip(flat, seconds, strict=True):
                finals[b][k] = second
    out: list[dict[str, Any]] = []
    for variant, first_samples, final_samples in zip(variants, firsts, finals, strict=True):
        for first, final in zip(first_samples, final_samples, strict=True):
            if final.is_error:  # nothing to parse: the inputs as given and the reason
                failure = OVERFLOW if is_overflow(final.error) else "engine_error"
                fields, verdicts = task.rejected(values), [Verdict(failure, False, final.error or "")]
            else:
                fields, verdicts = task.parse(values, final, variant=variant, first=first if task.two_step else None)
            out.append(
                {
                    **_identity(task, row, first.sample_idx),
                    **fields,
                    "completion": None if final.is_error else final.text,
                    "finish_reason": final.finish_reason,
                    "prompt_tokens": final.prompt_tokens,
                    # A second step's prompt already holds the first step's text; its tokens are counted once.
                    "completion_tokens": final.completion_tokens
                    + (first.completion_tokens if task.two_step and final is not first else 0),
                    **verdict_fields(verdicts),
                }
            )
    return out


def write_records(writer, records: list[list[dict[str, Any]]], failed: SpillMap, provenance) -> int:
    """Commit finished records (each a list of rows): new records go to one new shard, sorted by input
    position; retried records go back into the shard that held their failed rows. Returns how many rows were
    retries."""
    retried: dict[str, list[dict[str, Any]]] = {}
    fresh = []
    for row in sorted((r for rows in records for r in rows), key=lambda r: r["source_index"]):  # stable
        if (held_by := failed.get(row["record_id"])) is not None:
            retried.setdefault(held_by, []).append(row)
        else:
            fresh.append(row)
    if fresh:
        writer.commit(to_table(fresh, writer.schema), provenance)
    for shard, replacement in retried.items():
        writer.replace_records(shard, to_table(replacement, writer.schema), provenance)
    return sum(len(rows) for rows in retried.values())


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


def _pending(rows: Iterator[SourceRow], limit, shard, done: Container, summary: SynthSummary) -> Iterator[SourceRow]:
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


def _model_sampling(cfg: SynthConfig, task: Task, model: ResolvedModel, params: SamplingParams):
    """With `sampling.from_model` (a task's default for some recipes): the model's generation_config.json over
    the task's defaults, the user's flags over both. Returns the params and the values taken from the model."""
    wanted = cfg.sampling.from_model if cfg.sampling.from_model is not None else task.sampling_from_model
    if not wanted:
        return params, None
    try:
        base, taken = with_generation_config(task.defaults, model.path)
    except ValueError as err:
        raise ConfigError(str(err)) from err
    if taken is None:
        return params, {"note": f"{model.path} has no generation_config.json here; the task's defaults apply"}
    return cfg.sampling.apply(base), taken


def _resolve_model(cfg: SynthConfig) -> ResolvedModel:
    return resolve_engine_model(cfg.model, cfg.engine, cfg.openai.base_url)
