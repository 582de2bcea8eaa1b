"""One question judged, as a record of the shared streaming loop (`stream_loop.py`): `QuestionJudging.record`
sends its LLM judges' requests (a rank tournament's rounds one after another) and runs the verifiers on its
rows; `JudgedQuestion` is what comes back, `count_question` adds it to the run's summary and
`commit_questions` writes a shard of them with their tallies. The single-process loop and Ray replicas
(`replicas.py`) run the same records.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from harness.artifacts.schemas import to_table
from harness.artifacts.writer import ArtifactWriter
from harness.engines.base import SamplingParams
from harness.engines.context import OVERFLOW, is_overflow
from harness.engines.stream_loop import Ask, RecordRun
from harness.stages.judge_columns import SOURCE_VALUES, Column, row_values
from harness.stages.judge_summary import JudgeSummary
from judges.calibration import JudgeTally
from judges.format_check import check_row
from judges.llm_judges import Candidate, LLMJudge
from judges.registry import FORMAT, VERIFIERS, column_name
from judges.verifiers import Checked
from tasks import get_task
from tasks.base import Task


@dataclass
class JudgedQuestion:
    """One question's judged rows and, per judge, their tally; no rows when a judge request failed for good.
    `past_context`: the LLM judges whose request did not fit the model's context (their scores are null)."""

    rows: list[dict[str, Any]]
    tallies: dict[str, JudgeTally]
    requests: int
    failed: bool = False
    past_context: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class QuestionJudging:
    """How every question of a run is judged; pickled whole to Ray replicas, so it holds no open files."""

    judges: list[str]  # in the order of --judge
    columns: dict[str, Column]  # where each logical column comes from
    llm: dict[str, LLMJudge]  # the LLM judges among `judges`
    params: SamplingParams  # of every LLM judge request
    # `format`: task -> the options its synth run recorded (`@FILE` values read); other tasks: their defaults
    task_options: dict[str, dict[str, Any]] = field(default_factory=dict)

    def record(self, group: list[dict[str, Any]]) -> RecordRun[JudgedQuestion]:
        """One question (`group`: its rows): its LLM judges' requests (each round of every judge at once), then
        the verifiers. A question with a failed judge request asks no more and returns no rows (it is not
        committed); a judge whose request is past the model's context gives its rows a null score and says why
        (committed: a rerun would be refused again)."""
        values = [row_values(row, self.columns) for row in group]
        rows = [{**_written(row), "candidate_idx": i} for i, row in enumerate(group)]
        tallies = {name: JudgeTally(kind) for name, kind in tally_kinds(self.judges, self.llm).items()}
        requests, past = 0, []
        if self.llm:
            requests, failed, past = yield from _llm_judging(rows, values, self.llm, self.params, tallies)
            if failed:
                return JudgedQuestion([], {}, requests, failed=True)
        for name in self.judges:
            if name in self.llm:
                continue
            tally = tallies[column_name(name)]
            for row, logical in zip(rows, values, strict=True):
                checked = _verify(name, row, logical, self.task_options)
                tally.add_score(checked.score)
                tally.unparsable += checked.unparsable
                _put(row, name, checked.score, checked.reason)
        return JudgedQuestion(rows, tallies, requests, past_context=past)


def _written(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if k != SOURCE_VALUES} if SOURCE_VALUES in row else row


def tally_kinds(judges: list[str], llm: dict[str, LLMJudge]) -> dict[str, str]:
    """Each judge's column name -> the kind of its tally: "verifier", or its LLM judge's kind."""
    return {column_name(n): "verifier" if n not in llm else llm[n].kind for n in judges}


def count_question(summary: JudgeSummary, question: JudgedQuestion) -> bool:
    """A finished question into the summary; False when a judge request failed for good (the question is not
    committed: a rerun judges it again)."""
    summary.requests += question.requests
    if question.failed:
        summary.failed_questions += 1
        return False
    summary.questions += 1
    summary.rows += len(question.rows)
    summary.context_overflow_questions += bool(question.past_context)
    return True


def commit_questions(writer: ArtifactWriter, provenance: dict[str, Any], judged: list[JudgedQuestion]) -> None:
    """One shard of judged questions: their rows, and per judge the tally of those rows in its provenance."""
    tallies: dict[str, JudgeTally] = {}
    for question in judged:
        for name, tally in question.tallies.items():
            tallies.setdefault(name, JudgeTally(tally.kind)).merge(tally)
    rows = [row for question in judged for row in question.rows]
    tally_meta = {name: t.to_dict() for name, t in tallies.items()}
    writer.commit(to_table(rows, writer.schema), {**provenance, "judge_tally": tally_meta})


def _verify(name: str, row: dict[str, Any], values: dict[str, Any], options: dict[str, dict[str, Any]]) -> Checked:
    if row.get("completion") is None and "completion" in row:
        return Checked(None, f"no completion ({row.get('rejection_reason') or 'not generated'})")
    if name == FORMAT:
        return _check_task_format(row, options)
    spec = VERIFIERS[name]
    args = [values.get(c) for c in (*spec.columns, *spec.optional)]
    return spec.check_for(row.get("task"))(values.get("prediction"), *args)


def _check_task_format(row: dict[str, Any], options: dict[str, dict[str, Any]]) -> Checked:
    """The synth task's own `parse` again on the stored row, with the options of the synth run that made it (a
    two-step task's first step rebuilt from its columns): synth's verdicts, and rescore's."""
    name = row.get("task")
    try:
        task = _task(name, options.get(name) or {})
    except (TypeError, ValueError):
        return Checked(None, f"no task {name!r} to check the format with")
    return check_row(task, row)


_TASKS: dict[str, Task] = {}  # one task object per (name, options) in a process: rows share it


def _task(name: Any, options: dict[str, Any]) -> Task:
    key = json.dumps([name, options], sort_keys=True, default=str)
    if key not in _TASKS:
        _TASKS[key] = get_task(name, **options)
    return _TASKS[key]


def _llm_judging(rows, values, llm, params, tallies):
    """Every LLM judge on one question, round by round (a step asks every judge's next round). Returns the
    number of requests sent, whether one failed for good (the question's results are then dropped), and the
    judges whose request was past the model's context (they ask no more; their rows get a null score)."""
    candidates = [_candidate(row, v) for row, v in zip(rows, values, strict=True)]
    states = [(name, judge.start(candidates)) for name, judge in llm.items()]
    past: dict[str, str] = {}  # judge -> the refusal's reason
    sent = 0
    while True:
        asked = [(name, state, state.requests()) for name, state in states if name not in past]
        asks = [Ask(r, params) for _, _, rs in asked for r in rs]
        if not asks:
            break
        sent += len(asks)
        replies = iter((yield asks))
        for name, state, rs in asked:
            if rs:
                answers = [next(replies)[0] for _ in rs]
                errors = [c.error for c in answers if c.is_error]
                if errors and all(is_overflow(e) for e in errors):
                    past[name] = errors[0]
                elif errors:
                    return sent, True, []
                else:
                    state.receive([c.text for c in answers])
    for name, state in states:
        tally = tallies[column_name(name)]
        if name in past:
            tally.merge(state.tally)  # the requests it sent
            tally.context_overflow += len(rows)
            extra = {f.name: None for f in llm[name].extra_fields}
            for row in rows:
                tally.add_score(None)
                _put(row, name, None, f"{OVERFLOW}: {past[name]}", extra)
            continue
        results = state.results()  # reading the last replies counts the unparsable ones: before the merge
        tally.merge(state.tally)
        for row, result in zip(rows, results, strict=True):
            tally.add_score(result.score)
            _put(row, name, result.score, result.reason, result.extra)
    return sent, False, list(past)


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
