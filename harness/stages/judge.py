"""`harness judge`: an artifact's rows -> verifiers and LLM judges -> the same rows with judge columns.

Rows are read question by question (a question's rows: its samples or variants, which share a `record_id`
and sit next to each other in a synth artifact), because pairwise and ranking judges compare the answers to
one question. Each question is one record of the shared streaming loop (`stream_loop.py`): its LLM judges'
requests (a rank tournament's rounds one after another) stream through the engine beside other questions',
through the generation cache like synth's. Judged questions are committed in shards of `--batch-size`
questions (256), or, with LLM judges, at least every `--commit-seconds`, so a killed run resumes where it
stopped.

Each judge NAME adds `judge_<NAME>_score` (float64, null when it could not decide) and `judge_<NAME>_reason`,
plus its own columns; `DIR/judge_summary.json` holds the calibration summary of the whole artifact.
"""

from __future__ import annotations

import functools
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from rich.console import Console

from harness.artifacts.groups import artifact_shards, count_rows, question_groups
from harness.artifacts.reader import JUDGE_SUMMARY
from harness.artifacts.schemas import to_table
from harness.artifacts.sources import InputError, open_source
from harness.artifacts.writer import ArtifactWriter, base_provenance, generated_by, read_provenance
from harness.config import ConfigError, JudgeConfig
from harness.engines import ENGINES
from harness.engines.base import SamplingParams
from harness.engines.session import EngineSession, usage_delta
from harness.engines.stream_loop import Ask, Committer, RecordRun, run_record, stream_records
from harness.progress import StageProgress
from judges.calibration import JudgeTally
from judges.format_check import check_format
from judges.llm_judges import Candidate, LLMJudge, PairwiseJudge, RankJudge, ScoreJudge
from judges.registry import ALL_JUDGES, FORMAT, LLM_JUDGES, VERIFIERS, column_name, missing_package
from judges.verifiers import Checked
from tasks import get_task

SUMMARY_FILE = JUDGE_SUMMARY  # read back by `harness report` (harness/artifacts/reader.py)
# Questions per committed shard (with LLM judges, a shard is also committed every --commit-seconds, so a kill
# loses little); verifiers take microseconds, and small shards would spend their time in fsync.
SHARD_QUESTIONS = 256
SOURCE_PREFIX = "source:"
# Where each logical column is looked for by default, in order: first in the artifact, then in its source.
DEFAULT_COLUMNS: dict[str, tuple[str, ...]] = {
    "prediction": ("answer", "output", "completion"),  # the model's final answer
    "gold": ("reference", "gold_option", "solution"),
    "choices": ("choices",),
    "question": ("question", "instruction"),
    "response": ("answer", "completion"),  # what LLM judges see: the answer, blind to the thoughts
    "generator": ("generator",),
    "seed": ("seed",),
    "index": ("index",),
    "config": ("config",),
}
ONE_BASED_GOLD = {"gold_option"}  # 1-based option numbers (structured); bare integers would read as 0-based


@dataclass
class JudgeSummary:
    output: str
    rows: int = 0  # rows judged by this run
    questions: int = 0
    rows_skipped: int = 0  # already judged by an earlier run
    requests: int = 0  # LLM judge requests sent by this run (cache hits included)
    failed_questions: int = 0  # left out after a judge request failed for good; a rerun judges them again
    cache_hits: int = 0
    generated_tokens: int = 0
    seconds: float = 0.0
    judges: dict[str, dict[str, Any]] = field(default_factory=dict)  # judge_summary.json, the whole artifact
    summary_file: str = ""


@dataclass(frozen=True)
class Column:
    """Where a logical column's values come from: an artifact column, a source column, or a constant."""

    where: str  # "artifact", "source" or "constant"
    name: str | None = None
    value: Any = None

    def describe(self) -> str:
        return {"artifact": f"{self.name}", "source": f"{SOURCE_PREFIX}{self.name}"}.get(self.where, repr(self.value))


def run_judge(cfg: JudgeConfig, console: Console | None = None) -> JudgeSummary:
    console = console or Console(stderr=True)
    if "usefulness" in cfg.judges:  # a scorer model's log-probabilities, not a verifier or an LLM's reply
        from harness.stages.usefulness import run_usefulness

        return run_usefulness(cfg, console)
    judges = _check_judges(cfg)
    input_dir = Path(cfg.input)
    shards = artifact_shards(input_dir)
    in_schema = pq.read_schema(shards[0]).remove_metadata()
    upstream = read_provenance(shards[0])
    _check_fit(cfg, judges, upstream.get("task"))
    source = _SourceColumns(cfg.source, upstream)
    columns = _resolve_columns(cfg, judges, in_schema.names, source)
    llm = _llm_judges(cfg, judges)
    session = EngineSession(cfg) if llm else None
    if session is not None:
        session.check()
    schema = _output_schema(in_schema, judges, llm)
    identity = {
        "input": str(input_dir),
        "judges": judges,
        "columns": {k: c.describe() for k, c in sorted(columns.items())},
        "settings": {name: judge.settings() for name, judge in llm.items()},
        "model": cfg.model if llm else None,
        "engine": cfg.engine if llm else None,
        "max_tokens": cfg.max_tokens if llm else None,
    }
    summary = JudgeSummary(output=str(Path(cfg.output)))
    params = SamplingParams(temperature=0, max_tokens=cfg.max_tokens)
    with ArtifactWriter(Path(cfg.output), schema, identity).open(cfg.model_dump()) as writer:
        done = writer.done_record_ids()
        groups = _pending(question_groups(shards), cfg.limit, done, summary)
        first = next(groups, None)
        if first is not None:
            provenance = {
                **base_provenance(),
                **identity,
                "stage": "judge",
                "input": {"label": str(input_dir), "files": {s.name: _size(s) for s in shards}},
                "source": source.provenance(),
                "generated_by": generated_by(upstream),  # the rows' model, not the judge's
                "config": cfg.model_dump(),
            }
            needs = {c.name for c in columns.values() if c.where == "source"}
            lookup = source.values(needs)
            total = None if cfg.limit else count_rows(shards) - writer.rows_written()
            label = f"judge {','.join(judges)}"
            with StageProgress(label, total, console, tokens=bool(llm)) as progress:
                if cfg.ray is not None and llm:  # the same questions, judged by engine replicas on a Ray cluster
                    from harness.stages.judge_ray import judge_on_ray

                    record = functools.partial(
                        judge_record, judges=judges, columns=columns, lookup=lookup, llm=llm, params=params
                    )
                    judge_on_ray(_chain(first, groups), record, writer, schema, provenance, cfg, summary, progress)
                else:
                    records = (judge_record(g, judges, columns, lookup, llm, params) for g in _chain(first, groups))
                    _judge_all(records, writer, schema, provenance, session, cfg, summary, progress)
                summary.seconds = progress.elapsed
        summary.judges = _artifact_summary(writer.shards(), judges, llm)
    summary.summary_file = str(Path(cfg.output) / SUMMARY_FILE)
    _write_json(Path(summary.summary_file), {"judges": summary.judges})
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


@dataclass
class JudgedQuestion:
    """One question's judged rows and, per judge, their tally; no rows when a judge request failed for good."""

    rows: list[dict[str, Any]]
    tallies: dict[str, JudgeTally]
    requests: int
    failed: bool = False


def _judge_all(records, writer, schema, provenance, session, cfg, summary, progress) -> None:
    """Every question through the shared streaming loop (no engine without LLM judges); judged questions are
    committed `--batch-size` at a time, or every `--commit-seconds`."""
    usage_before: dict[str, Any] = {}

    def write(judged: list[JudgedQuestion]) -> None:
        nonlocal usage_before
        extra: dict[str, Any] = {}
        if session is not None:
            after = session.usage()  # this shard's requests, as synth records them
            usage, usage_before = usage_delta(usage_before, after), after
            extra = {**session.provenance(), **({"engine_usage": usage} if usage else {})}
        commit_questions(writer, schema, {**provenance, **extra}, judged)

    committer = Committer(write, lambda q: 1, cfg.batch_size or SHARD_QUESTIONS, cfg.commit_seconds)

    def done(question: JudgedQuestion) -> None:
        if not count_question(summary, question):
            return
        committer.add(question)
        tokens = session.new_tokens() if session is not None else 0
        progress.advance(len(question.rows), tokens, stream.in_flight if session is not None else 0)

    try:
        if session is None:
            for record in records:
                done(run_record(record, _no_engine))
        else:
            with session:
                session.on_status = progress.note  # loading a model says so: minutes of silence read as a hang
                stream = session.open_stream()
                try:
                    stream_records(records, stream, session.window, done)
                finally:
                    stream.close()
                    committer.flush()  # while the engine is open: the last shard records its facts too
                summary.cache_hits, summary.generated_tokens = session.cache_hits, session.generated_tokens
    finally:
        committer.flush()  # judged questions are whole: keep them, even when the run is interrupted


def commit_questions(writer, schema, provenance: dict[str, Any], judged: list[JudgedQuestion]) -> None:
    """One shard of judged questions: their rows, and per judge the tally of those rows in its provenance."""
    tallies: dict[str, JudgeTally] = {}
    for question in judged:
        for name, tally in question.tallies.items():
            tallies.setdefault(name, JudgeTally(tally.kind)).merge(tally)
    rows = [row for question in judged for row in question.rows]
    tally_meta = {name: t.to_dict() for name, t in tallies.items()}
    writer.commit(to_table(rows, schema), {**provenance, "judge_tally": tally_meta})


def count_question(summary: JudgeSummary, question: JudgedQuestion) -> bool:
    """A finished question into the summary; False when a judge request failed for good (the question is not
    committed: a rerun judges it again)."""
    summary.requests += question.requests
    if question.failed:
        summary.failed_questions += 1
        return False
    summary.questions += 1
    summary.rows += len(question.rows)
    return True


def _no_engine(requests, params):
    raise RuntimeError("internal: a verifier-only judge run asked an engine")


def _chain(first, rest):
    yield first
    yield from rest


def judge_record(group, judges, columns, lookup, llm, params) -> RecordRun[JudgedQuestion]:
    """One question: its LLM judges' requests (each round of every judge at once), then the verifiers.
    A question with a failed judge request asks no more and returns no rows (it is not committed)."""
    rows = [{**row, "candidate_idx": i} for i, row in enumerate(group)]
    values = [_row_values(row, columns, lookup) for row in rows]
    tallies = {column_name(n): JudgeTally("verifier" if n not in llm else llm[n].kind) for n in judges}
    requests = 0
    if llm:
        requests = yield from _llm_judging(rows, values, llm, params, tallies)
        if requests < 0:
            return JudgedQuestion([], {}, -requests, failed=True)
    for name in judges:
        if name in llm:
            continue
        tally = tallies[column_name(name)]
        for row, row_values in zip(rows, values, strict=True):
            checked = _verify(name, row, row_values)
            tally.add_score(checked.score)
            tally.unparsable += checked.unparsable
            _put(row, name, checked.score, checked.reason)
    return JudgedQuestion(rows, tallies, requests)


def _verify(name: str, row: dict[str, Any], values: dict[str, Any]) -> Checked:
    if row.get("completion") is None and "completion" in row:
        return Checked(None, f"no completion ({row.get('rejection_reason') or 'not generated'})")
    if name == FORMAT:
        return _check_task_format(row)
    spec = VERIFIERS[name]
    args = [values.get(c) for c in (*spec.columns, *spec.optional)]
    return spec.check(values.get("prediction"), *args)


def _check_task_format(row: dict[str, Any]) -> Checked:
    """The synth task's own validators, run again on the completion (two-step tasks: the synth verdicts,
    which saw both steps' outputs; one completion alone cannot be checked again)."""
    try:
        task = get_task(row["task"])
    except (KeyError, ValueError):
        return Checked(None, f"no task {row.get('task')!r} to check the format with")
    if task.two_step:
        failed = row.get("rejection_reason")
        return Checked(0.0 if failed else 1.0, f"synth verdict: {failed}" if failed else "synth verdicts passed")
    return check_format(task, task.values_from_output(row), row["completion"], finish_reason=row.get("finish_reason"))


def _llm_judging(rows, values, llm, params, tallies):
    """Every LLM judge on one question, round by round (a step asks every judge's next round). Returns the
    number of requests sent, negated when one failed for good (the question's results are then dropped)."""
    candidates = [_candidate(row, v) for row, v in zip(rows, values, strict=True)]
    states = [(name, judge.start(candidates)) for name, judge in llm.items()]
    sent = 0
    while True:
        asked = [(state, state.requests()) for _, state in states]
        asks = [Ask(r, params) for _, rs in asked for r in rs]
        if not asks:
            break
        sent += len(asks)
        replies = iter((yield asks))
        for state, rs in asked:
            if rs:
                answers = [next(replies)[0] for _ in rs]
                if any(c.is_error for c in answers):
                    return -sent
                state.receive([c.text for c in answers])
    for name, state in states:
        tally = tallies[column_name(name)]
        results = state.results()  # reading the last replies counts the unparsable ones: before the merge
        tally.merge(state.tally)
        for row, result in zip(rows, results, strict=True):
            tally.add_score(result.score)
            _put(row, name, result.score, result.reason, result.extra)
    return sent


def _candidate(row: dict[str, Any], values: dict[str, Any]) -> Candidate:
    question = values.get("question")
    question = question if isinstance(question, str) else None
    if "completion" in row and row.get("completion") is None:
        return Candidate(question, None, f"no completion ({row.get('rejection_reason') or 'not generated'})")
    response = values.get("response")
    if not isinstance(response, str) or not response.strip():
        return Candidate(question, None, "no answer to judge (empty or missing)")
    return Candidate(question, response)


def _put(row: dict[str, Any], name: str, score: float | None, reason: str, extra: dict | None = None) -> None:
    prefix = f"judge_{column_name(name)}_"
    row[prefix + "score"] = score
    row[prefix + "reason"] = reason
    for key, value in (extra or {}).items():
        row[prefix + key] = value


# -- columns ---------------------------------------------------------------------------------------------
def _needed(judges: list[str]) -> tuple[set[str], set[str]]:
    """(required, optional) logical columns of these judges."""
    required: set[str] = set()
    optional: set[str] = set()
    for name in judges:
        if name in VERIFIERS:
            required |= {"prediction", *VERIFIERS[name].columns}
            optional |= set(VERIFIERS[name].optional)
        elif name in LLM_JUDGES:
            required.add("response")
            optional.add("question")
    return required, optional - required


def _resolve_columns(cfg: JudgeConfig, judges: list[str], present: list[str], source) -> dict[str, Column]:
    required, optional = _needed(judges)
    known = required | optional
    unknown = set(cfg.columns) - known
    if unknown:
        raise ConfigError(f"--col: these judges read no column(s) {sorted(unknown)}; they read {sorted(known)}")
    resolved: dict[str, Column] = {}
    if "pattern" in known:
        if cfg.regex is None and "pattern" not in cfg.columns:
            raise ConfigError("the regex judge needs --regex PATTERN (its first group is the answer)")
        if cfg.regex is not None:
            try:
                re.compile(cfg.regex)
            except re.error as err:
                raise ConfigError(f"--regex {cfg.regex!r}: not a valid regular expression ({err})") from err
            resolved["pattern"] = Column("constant", value=cfg.regex)
    for logical in sorted(known - set(resolved)):
        found = _locate(logical, cfg.columns.get(logical), present, source)
        if found is None and logical in required:
            looked = cfg.columns.get(logical) or " or ".join(DEFAULT_COLUMNS.get(logical, (logical,)))
            where = f" or in its source {source.label}{source.unreadable}" if source.label else ""
            raise ConfigError(
                f"{cfg.input}: no column for the {logical} (looked for {looked} in the artifact{where}); "
                f"name one with --col {logical}=COLUMN (or --col {logical}={SOURCE_PREFIX}COLUMN)"
            )
        if found is not None:
            resolved[logical] = found
    return resolved


def _locate(logical: str, given: str | None, present: list[str], source) -> Column | None:
    if given is not None:
        if given.startswith(SOURCE_PREFIX):
            name = given.removeprefix(SOURCE_PREFIX)
            if name not in source.columns():
                raise ConfigError(f"--col {logical}={given}: the source {source.label} has no column {name!r}")
            return Column("source", name)
        if given in present:
            return Column("artifact", given)
        if given in source.columns():
            return Column("source", given)
        raise ConfigError(f"--col {logical}={given}: no such column in the artifact or its source")
    candidates = DEFAULT_COLUMNS.get(logical, (logical,))
    for name in candidates:
        if name in present:
            return Column("artifact", name)
    for name in candidates:
        if name in source.columns():
            return Column("source", name)
    return None


def _row_values(row: dict[str, Any], columns: dict[str, Column], lookup: dict[int, dict[str, Any]]):
    values = {}
    for logical, column in columns.items():
        if column.where == "constant":
            values[logical] = column.value
        elif column.where == "artifact":
            values[logical] = _gold_value(row.get(column.name), column.name)
        else:
            values[logical] = lookup.get(row["source_index"], {}).get(column.name)
    return values


def _gold_value(value: Any, column: str) -> Any:
    return str(value) if column in ONE_BASED_GOLD and isinstance(value, int) else value


class _SourceColumns:
    """The input the synth run read (from the artifact's provenance, or --source): columns the artifact did
    not keep, such as reasoning-gym's generator/seed/index/config, are read from it by `source_index`."""

    def __init__(self, given: str | None, provenance: dict[str, Any]) -> None:
        upstream = provenance.get("source") or provenance.get("input") or {}
        self.label: str | None = given or (upstream.get("label") if isinstance(upstream, dict) else None)
        self.files = upstream.get("files") if isinstance(upstream, dict) and not given else None
        self._source = None
        self._error: InputError | None = None  # raised only when a column must come from the source

    def _open(self):
        if self._source is None and self._error is None and self.label is not None:
            try:
                self._source = open_source(self.label, {})
            except InputError as err:
                self._error = InputError(f"the artifact's source cannot be read ({err}); pass --source FILE")
        if self._source is None and self._error is not None:
            raise self._error
        return self._source

    def columns(self) -> list[str]:
        """The source's columns; none when there is no source or it cannot be read (an optional column then
        stays empty; a required one is reported with `unreadable`)."""
        try:
            source = self._open()
        except InputError:
            return []
        return list(source.columns) if source is not None else []

    @property
    def unreadable(self) -> str:
        return f" ({self._error})" if self._error is not None else ""

    def provenance(self) -> dict[str, Any] | None:
        return {"label": self.label, "files": self.files} if self.label else None

    def values(self, names: set[str]) -> dict[int, dict[str, Any]]:
        """source_index -> the needed columns; only those columns are kept (a few small values per row)."""
        if not names:
            return {}
        source = self._open()
        files = source.fingerprint.get("files")
        if self.files and files and files != self.files:
            raise InputError(f"{self.label} changed since the synth run read it (sha256 differs); pass --source")
        return {row.index: {n: row.values.get(n) for n in names} for row in source.rows()}


# -- reading the input -----------------------------------------------------------------------------------
def _pending(groups, limit, done: set[str], summary: JudgeSummary):
    for number, group in enumerate(groups):
        if limit is not None and number >= limit:
            return
        if group[0]["record_id"] in done:
            summary.rows_skipped += len(group)
            continue
        yield group


def _size(shard: Path) -> int:
    return shard.stat().st_size


# -- the summary -----------------------------------------------------------------------------------------
def _artifact_summary(shards: list[Path], judges: list[str], llm: dict[str, LLMJudge]) -> dict[str, Any]:
    totals = {column_name(n): JudgeTally("verifier" if n not in llm else llm[n].kind) for n in judges}
    for shard in shards:
        for name, data in (read_provenance(shard).get("judge_tally") or {}).items():
            if name in totals:
                totals[name].merge(JudgeTally.from_dict(data))
    return {name: tally.summary() for name, tally in totals.items()}


def _write_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(path.name + ".writing")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)
