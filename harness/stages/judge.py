"""`harness judge`: rows -> verifiers and LLM judges -> the same rows with judge columns.

The input is an artifact folder, or anything synth reads (JSONL, CSV, Parquet, a folder of them, a saved dataset,
a hub id: `harness.artifacts.groups.open_questions`). Rows are read question by question (a question's rows: its
samples or variants, which share a `record_id` and sit next to each other in a synth artifact; in a user's file,
the rows sharing `--col group=COLUMN`, else each row alone), because pairwise and ranking judges compare the answers to
one question. Each question is one record of the shared streaming loop (`stream_loop.py`): its LLM judges'
requests (a rank tournament's rounds one after another) stream through the engine beside other questions',
through the generation cache like synth's. Judged questions are committed in shards of `--batch-size`
questions (256), or, with LLM judges, at least every `--commit-seconds`, so a killed run resumes where it
stopped.

Each judge NAME adds `judge_<NAME>_score` (float64, null when it could not decide) and `judge_<NAME>_reason`,
plus its own columns; `DIR/judge_summary.json` holds the calibration summary of the whole artifact. Here: the
stage, its checks and its loops; a question's record is judge_questions.py, the columns it reads
judge_columns.py, the summaries judge_summary.py.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Container, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
from rich.console import Console

from harness.artifacts.groups import open_questions
from harness.artifacts.writer import ArtifactWriter, base_provenance, generated_by
from harness.config import ConfigError, JudgeConfig, read_option_files
from harness.cost import Ledger, Prices
from harness.engines import ENGINES
from harness.engines.base import SamplingParams
from harness.engines.models import resolve_engine_model
from harness.engines.session import EngineSession, usage_delta
from harness.engines.stream_loop import Committer, RecordRun, run_record, stream_records
from harness.progress import StageProgress
from harness.stages.judge_columns import GROUP, SourceColumns, resolve_columns, with_source
from harness.stages.judge_questions import (
    JudgedQuestion,
    QuestionJudging,
    commit_questions,
    count_question,
    tally_kinds,
)
from harness.stages.judge_summary import JudgeSummary, artifact_tallies
from harness.stages.replicas import ReplicaJob, run_on_replicas
from harness.stages.task_run import first_task, folder_run, make_task, refuse_without_first
from harness.stages.usefulness import run_usefulness
from judges.llm_judges import LLMJudge, PairwiseJudge, RankJudge, ScoreJudge
from judges.registry import ALL_JUDGES, FORMAT, LLM_JUDGES, VERIFIERS, column_name, missing_package

# Questions per committed shard (with LLM judges, a shard is also committed every --commit-seconds, so a kill
# loses little); verifiers take microseconds, and small shards would spend their time in fsync.
SHARD_QUESTIONS = 256


@dataclass
class JudgeRun:
    """What judging and committing a run's questions needs, on one engine (or none) or on Ray replicas."""

    cfg: JudgeConfig
    writer: ArtifactWriter
    provenance: dict[str, Any]  # every shard's, before the facts of the engine that judged it
    session: EngineSession | None  # None without LLM judges: verifiers need no engine
    summary: JudgeSummary
    label: str  # the progress bar's
    total: int | None  # rows expected, for the progress bar
    console: Console
    ledger: Ledger

    def commit(self, judged: list[JudgedQuestion], facts: dict[str, Any]) -> None:
        """Judged questions into a shard that also records `facts` (engine, usage, replicas, cost)."""
        commit_questions(self.writer, {**self.provenance, **self.ledger.charge(facts)}, judged)


def run_judge(cfg: JudgeConfig, console: Console | None = None) -> JudgeSummary:
    console = console or Console(stderr=True)
    if "usefulness" in cfg.judges:  # a scorer model's log-probabilities, not a verifier or an LLM's reply
        if Prices.of(cfg).priced or cfg.max_cost is not None:
            raise ConfigError("--judge usefulness is not priced yet: leave out --price-*, --cost-per-hour, --max-cost")
        return run_usefulness(cfg, console)
    judges = _check_judges(cfg)
    grouped = cfg.columns.get(GROUP)
    inputs = open_questions(cfg.input, split=cfg.split, group=grouped)
    in_schema, upstream = inputs.schema, inputs.upstream
    _check_fit(cfg, judges, upstream.get("task"))
    format_task, task_options = (
        _format_task(Path(cfg.input).expanduser(), in_schema.names, upstream) if FORMAT in judges else ({}, {})
    )
    source = SourceColumns(cfg.source, upstream)
    columns = resolve_columns(cfg, judges, in_schema.names, source)
    llm = _llm_judges(cfg, judges)
    session = EngineSession(cfg) if llm else None
    if session is not None:
        session.check()
    schema = _output_schema(in_schema, judges, llm)
    identity = {
        **inputs.identity,
        "judges": judges,
        "columns": {k: c.describe() for k, c in sorted(columns.items())},
        "settings": {name: judge.settings() for name, judge in llm.items()},
        "model": cfg.model if llm else None,
        "engine": cfg.engine if llm else None,
        "max_tokens": cfg.max_tokens if llm else None,
    }
    summary = JudgeSummary(output=str(Path(cfg.output)), format_task=format_task or None)
    ledger = Ledger(cfg if llm else None, Path(cfg.output))  # verifiers run no engine: nothing to charge
    params = SamplingParams(temperature=0, max_tokens=cfg.max_tokens)
    with ArtifactWriter(Path(cfg.output), schema, identity).open(cfg.model_dump()) as writer:
        done = writer.done_record_ids()
        groups = _pending(inputs.groups(), cfg.limit, done, summary)
        first = next(groups, None)
        if first is not None:
            provenance = {
                **base_provenance(),
                **identity,
                "stage": "judge",
                "input": {"label": inputs.label, "files": inputs.files},
                "source": source.provenance(),
                **({"format_task": format_task} if format_task else {}),
                "generated_by": generated_by(upstream),  # the rows' model, not the judge's
                "config": cfg.model_dump(),
            }
            needs = {c.name for c in columns.values() if c.where == "source"}
            lookup = source.values(needs)
            judging = QuestionJudging(judges, columns, llm, params, task_options)
            total = None if cfg.limit else inputs.rows - writer.rows_written()
            label = f"judge {','.join(judges)}"
            run = JudgeRun(cfg, writer, provenance, session, summary, label, total, console, ledger)
            questions = (with_source(group, lookup) for group in itertools.chain([first], groups))
            if cfg.ray is not None and llm:  # the same questions, judged by engine replicas on a Ray cluster
                _judge_on_ray(run, questions, judging)
            else:
                _judge_all(run, (judging.record(group) for group in questions))
            summary.cost, summary.budget_stop = ledger.total, ledger.budget.stop(None)
        summary.judges = artifact_tallies(writer.shards(), tally_kinds(judges, llm))
    summary.write_file()
    return summary


# -- the judges ------------------------------------------------------------------------------------------
def _check_judges(cfg: JudgeConfig) -> list[str]:
    if not cfg.judges:
        raise ConfigError(f"--judge: name at least one judge: {', '.join(ALL_JUDGES)}")
    unknown = [j for j in cfg.judges if j not in ALL_JUDGES]
    if unknown:
        raise ConfigError(f"unknown judge(s) {unknown}; judges are: {', '.join(ALL_JUDGES)}")
    if len(set(cfg.judges)) != len(cfg.judges):
        raise ConfigError(f"--judge names a judge twice: {cfg.judges}")
    for name in cfg.judges:
        if missing := missing_package(name):
            raise ConfigError(f"the {name} judge needs {missing}: pip install 'reasoning-harness[judge]'")
    if any(j in LLM_JUDGES for j in cfg.judges) and cfg.engine not in ENGINES:
        raise ConfigError(f"unknown engine {cfg.engine!r}; engines are: {', '.join(sorted(ENGINES))}")
    return list(cfg.judges)


def _check_fit(cfg: JudgeConfig, judges: list[str], task: str | None) -> None:
    """Refuse, before any work, a verifier that cannot read the rows of the artifact's task, unless --col says
    where its columns are (then the user vouches for them)."""
    for name in judges:
        spec = VERIFIERS.get(name)
        if task is None or spec is None or spec.tasks is None or task in spec.tasks:
            continue
        if {"prediction", *spec.columns} <= set(cfg.columns):
            continue
        fits = ", ".join(spec.tasks)
        raise ConfigError(
            f"{cfg.input} holds {task} rows, which the {name} judge cannot check (it fits: {fits}); "
            f"choose another judge, or name its columns with --col prediction=COLUMN --col gold=COLUMN"
        )


def _format_task(folder: Path, names: list[str], upstream: dict[str, Any]):
    """`--judge format`: the rows' task with the options of the synth run that made them, found up the
    artifacts they were passed on through (refused when that run is gone), or the task's defaults for rows
    with no harness provenance. Returns what the summary says of it, and task -> its options for the judging."""
    run = folder_run(folder)
    name = first_task(folder) or (run.synth.provenance.get("task") if run.synth else upstream.get("task"))
    if name is None:
        return run.describe(None), {}  # rows without a task column: each is unparsable, and says so
    task = make_task(folder, name, run.options)
    refuse_without_first(folder, task, names, run, "judge that")
    return run.describe(task.name), {task.name: read_option_files(run.options)}


def _llm_judges(cfg: JudgeConfig, judges: list[str]) -> dict[str, LLMJudge]:
    try:
        made = {
            "score": lambda: ScoreJudge(cfg.score_low, cfg.score_high),
            "pairwise": PairwiseJudge,
            "rank": lambda: RankJudge(cfg.rank_chunk),
        }
        return {name: made[name]() for name in judges if name in LLM_JUDGES}
    except ValueError as err:
        raise ConfigError(str(err)) from err


def _output_schema(in_schema: pa.Schema, judges: list[str], llm: dict[str, LLMJudge]) -> pa.Schema:
    fields = list(in_schema)
    if "candidate_idx" not in in_schema.names:
        fields.append(pa.field("candidate_idx", pa.int32(), nullable=False))  # place within its question
    for name in judges:
        prefix = f"judge_{column_name(name)}_"
        if any(n.startswith(prefix) for n in in_schema.names):
            raise ConfigError(f"the input already has {prefix}* columns: it was judged by {name!r} before")
        extra = llm[name].extra_fields if name in llm else []
        fields += [pa.field(prefix + "score", pa.float64()), pa.field(prefix + "reason", pa.string())]
        fields += [pa.field(prefix + f.name, f.type) for f in extra]
    return pa.schema(fields)


def _judge_all(run: JudgeRun, records: Iterator[RecordRun[JudgedQuestion]]) -> None:
    """Every question through the shared streaming loop (no engine without LLM judges); judged questions are
    committed `--batch-size` at a time, or every `--commit-seconds`."""
    session, summary = run.session, run.summary
    usage_before: dict[str, Any] = {}

    def write(judged: list[JudgedQuestion]) -> None:
        nonlocal usage_before
        extra: dict[str, Any] = {}
        if session is not None:
            after = session.usage()  # this shard's requests, as synth records them
            usage, usage_before = usage_delta(usage_before, after), after
            extra = {**session.provenance(), **({"engine_usage": usage} if usage else {})}
        run.commit(judged, extra)

    committer = Committer(write, lambda q: 1, run.cfg.batch_size or SHARD_QUESTIONS, run.cfg.commit_seconds)
    with StageProgress(run.label, run.total, run.console, tokens=session is not None) as progress:

        def done(question: JudgedQuestion) -> None:
            if not count_question(summary, question):
                return
            committer.add(question)
            run.ledger.budget.done()
            tokens = session.new_tokens() if session is not None else 0
            progress.advance(len(question.rows), tokens, stream.in_flight if session is not None else 0)

        try:
            if session is None:
                for record in records:
                    done(run_record(record, _no_engine))
            else:
                with session:
                    session.on_status = progress.note  # loading a model says so: minutes of silence read as a hang
                    run.ledger.watch(session.usage)
                    progress.spend = run.ledger.spent if run.ledger.priced else None
                    stream = session.open_stream()
                    try:
                        stream_records(run.ledger.budget.gate(records), stream, session.window, done)
                    finally:
                        stream.close()
                        committer.flush()  # while the engine is open: the last shard records its facts too
                    summary.cache_hits, summary.generated_tokens = session.cache_hits, session.generated_tokens
        finally:
            committer.flush()  # judged questions are whole: keep them, even when the run is interrupted
        summary.seconds = progress.elapsed


def _judge_on_ray(run: JudgeRun, questions: Iterable[list[dict[str, Any]]], judging: QuestionJudging) -> None:
    """The same questions, each judged by an engine replica on a Ray cluster; committed here as `_judge_all`
    commits them."""
    cfg = run.cfg
    job = ReplicaJob(
        cfg=cfg,
        fingerprint=resolve_engine_model(cfg.model, cfg.engine, cfg.openai.base_url).fingerprint,
        record=judging.record,
        commit=run.commit,
        rows=lambda question: 1,  # a shard holds `--batch-size` questions
        shard_rows=cfg.batch_size or SHARD_QUESTIONS,
        key=lambda question: question.rows[0]["record_id"] if question.rows else None,
        tally=functools.partial(count_question, run.summary),
        progress_rows=lambda question: len(question.rows),
        label=run.label,
        total=run.total,
    )
    totals = run_on_replicas(job, questions, run.console)
    run.summary.cache_hits, run.summary.generated_tokens = totals.cache_hits, totals.generated_tokens
    run.summary.seconds = totals.seconds


def _no_engine(requests, params):
    raise RuntimeError("internal: a verifier-only judge run asked an engine")


# -- reading the input -----------------------------------------------------------------------------------
def _pending(groups, limit, done: Container[str], summary: JudgeSummary):
    for number, group in enumerate(groups):
        if limit is not None and number >= limit:
            return
        if group[0]["record_id"] in done:
            summary.rows_skipped += len(group)
            continue
        yield group
