"""`harness judge --judge usefulness`: how much each trace helps a scorer model predict its solution.

    usefulness delta = mean log p(solution | instruction, trace) - mean log p(solution | instruction)

per solution token, under a scorer model (`--model`; by default the model that generated the rows), from the
prompt log-probabilities of one forward pass per text (`Engine.score_prompts`). The texts are plain:
"{instruction}\\n\\n{trace}\\n\\n" + solution, and "{instruction}\\n\\n" + solution; the second is scored once per
question, shared by its samples.

A trace that spells the solution out makes it easy to predict without helping anyone reach it. So each row also
gets `copied`: the share of the solution's words that lie inside a run of min(8, solution length) words the
trace holds verbatim (normalized as decontam normalizes). The score discounts it: a positive delta is credited
only for the share of the solution the trace did not copy, `score = delta * (1 - copied)`; a negative delta is
kept as it is (copying never makes a harmful trace look better). A bare restatement scores about 0.

Columns: `judge_usefulness_score`, `_reason`, `_logp_with_trace`, `_logp_without_trace`, `_delta`,
`_solution_tokens`, `_copied`. Written and resumed like every judge, question by question.
"""

from __future__ import annotations

import contextlib
from collections.abc import Container
from pathlib import Path
from typing import Any

import pyarrow as pa
from rich.console import Console

from harness.artifacts.groups import open_questions
from harness.artifacts.schemas import to_table
from harness.artifacts.writer import ArtifactWriter, base_provenance, generated_by
from harness.config import ConfigError, JudgeConfig
from harness.engines.scoring import Scored, ScoreRequest
from harness.engines.session import EngineSession, batched
from harness.evalsets.ngrams import tokenize
from harness.progress import StageProgress
from harness.stages.judge_summary import JudgeSummary, artifact_tallies
from judges.calibration import JudgeTally

NAME = "usefulness"
PREFIX = f"judge_{NAME}_"
COPY_RUN = 8  # words: a verbatim run this long (or the whole solution, when shorter) counts as copied
QUESTIONS_PER_SHARD = 16
# Logical column -> the artifact columns tried in order (backfill: instruction/trace/solution; star:
# question/rationale/answer; thought-variants: question/thought/answer). `--col LOGICAL=COLUMN` overrides.
DEFAULTS = {
    "question": ("instruction", "question", "prompt"),
    "trace": ("trace", "rationale", "thought", "reasoning"),
    "solution": ("solution", "answer", "output", "reference"),
}
FIELDS = [
    pa.field(PREFIX + "score", pa.float64()),
    pa.field(PREFIX + "reason", pa.string()),
    pa.field(PREFIX + "logp_with_trace", pa.float64()),
    pa.field(PREFIX + "logp_without_trace", pa.float64()),
    pa.field(PREFIX + "delta", pa.float64()),
    pa.field(PREFIX + "solution_tokens", pa.int32()),
    pa.field(PREFIX + "copied", pa.float64()),
]


def run_usefulness(cfg: JudgeConfig, console: Console | None = None) -> JudgeSummary:
    console = console or Console(stderr=True)
    if cfg.judges != [NAME]:
        raise ConfigError(f"--judge {NAME} runs on its own (it loads a scorer model); judge the others separately")
    questions = open_questions(cfg.input, split=cfg.split, group=cfg.columns.get("group"))
    in_schema, upstream = questions.schema, questions.upstream
    columns = _columns(cfg, in_schema.names)
    cfg = _scorer(cfg, upstream)
    if any(n.startswith(PREFIX) for n in in_schema.names):
        raise ConfigError(f"the input already has {PREFIX}* columns: it was judged by {NAME} before")
    extra = [] if "candidate_idx" in in_schema.names else [pa.field("candidate_idx", pa.int32(), nullable=False)]
    schema = pa.schema([*in_schema, *extra, *FIELDS])
    identity = {**questions.identity, "judges": [NAME], "columns": columns, "model": cfg.model, "engine": cfg.engine}
    summary = JudgeSummary(output=str(Path(cfg.output)))
    tally = JudgeTally(NAME)
    session = EngineSession(cfg)
    session.check()
    with ArtifactWriter(Path(cfg.output), schema, identity).open(cfg.model_dump()) as writer:
        done = writer.done_record_ids()
        pending = (g for g in questions.groups() if not _skip(g, done, summary))
        provenance = {
            **base_provenance(),
            **identity,
            "stage": "judge",
            "input": {"label": questions.label, "files": questions.files},
            "generated_by": generated_by(upstream),
            "config": cfg.model_dump(),
        }
        total = questions.rows - writer.rows_written()
        with contextlib.ExitStack() as stack, StageProgress(f"judge {NAME}", total, console) as progress:
            for batch in batched(pending, cfg.batch_size or QUESTIONS_PER_SHARD):
                if session.loaded is None:
                    stack.enter_context(session)
                    session.start()
                rows, shard_tally = _judge(batch, columns, session)
                tally.merge(shard_tally)
                summary.rows += len(rows)
                summary.questions += len(batch)
                summary.requests += shard_tally.requests
                meta = {**provenance, **session.provenance(), "judge_tally": {NAME: shard_tally.to_dict()}}
                writer.commit(to_table(rows, schema), meta)
                progress.advance(len(rows), 0)
            summary.seconds = progress.elapsed
        summary.judges = artifact_tallies(writer.shards(), {NAME: NAME})  # its tally's kind is its name
    summary.write_file()
    return summary


def _columns(cfg: JudgeConfig, names: list[str]) -> dict[str, str]:
    unknown = sorted(set(cfg.columns) - set(DEFAULTS) - {"group"})
    if unknown:
        raise ConfigError(f"--col: {NAME} reads {', '.join(DEFAULTS)}, not {unknown}")
    chosen = {}
    for logical, candidates in DEFAULTS.items():
        column = cfg.columns.get(logical) or next((c for c in candidates if c in names), None)
        if column is None or column not in names:
            raise ConfigError(
                f"{cfg.input}: no {logical} column for {NAME} (tried {column or ', '.join(candidates)}); "
                f"map one with --col {logical}=COLUMN (it has {', '.join(names)})"
            )
        chosen[logical] = column
    return chosen


def _scorer(cfg: JudgeConfig, upstream: dict[str, Any]) -> JudgeConfig:
    """`--model default` means the model that generated the rows, when the artifact says which."""
    if cfg.model != "default" or cfg.engine == "openai":
        return cfg
    made_by = generated_by(upstream) or {}
    return cfg.model_copy(update={"model": made_by.get("requested") or "default"})


def _skip(group: list[dict[str, Any]], done: Container[str], summary) -> bool:
    if group[0]["record_id"] in done:
        summary.rows_skipped += len(group)
        return True
    return False


def _judge(batch: list[list[dict[str, Any]]], columns: dict[str, str], session: EngineSession):
    """Score every row of a batch of questions: one request per trace, one per question without a trace."""
    requests: list[ScoreRequest] = []
    slots: dict[ScoreRequest, int] = {}

    def slot(request: ScoreRequest) -> int:
        if request not in slots:
            slots[request] = len(requests)
            requests.append(request)
        return slots[request]

    plan = []
    for group in batch:
        for idx, row in enumerate(group):
            question, trace, solution = (_text(row.get(columns[k])) for k in ("question", "trace", "solution"))
            if not trace or not solution:
                plan.append((row, idx, None, None, "no trace" if not trace else "no solution"))
                continue
            base = f"{question}\n\n" if question else ""
            with_trace = slot(ScoreRequest(f"{base}{trace}\n\n", solution))
            plan.append((row, idx, with_trace, slot(ScoreRequest(base, solution)), copied_share(trace, solution)))
    scored = session.loaded.score_prompts(requests) if requests else []
    tally = JudgeTally(NAME, requests=len(requests))
    rows = []
    for row, idx, with_trace, without, copied in plan:
        fields = _fields(scored, with_trace, without, copied)
        tally.add_score(None if fields[PREFIX + "score"] is None else round(fields[PREFIX + "score"], 1))
        tally.unparsable += fields[PREFIX + "score"] is None
        rows.append({**row, "candidate_idx": row.get("candidate_idx", idx), **fields})
    return rows, tally


def _fields(scored: list[Scored], with_trace: int | None, without: int | None, copied: Any) -> dict[str, Any]:
    if with_trace is None or without is None:
        return {PREFIX + "score": None, PREFIX + "reason": copied}
    a, b = scored[with_trace], scored[without]
    if a.mean is None or b.mean is None:
        return {PREFIX + "score": None, PREFIX + "reason": "the solution has no tokens"}
    delta = a.mean - b.mean
    score = delta * (1 - copied) if delta > 0 else delta
    reason = (
        f"mean log p(solution) per token {a.mean:.3f} with the trace, {b.mean:.3f} without: delta {delta:+.3f}; "
        f"the trace copies {copied:.0%} of the solution verbatim, so the score is {score:+.3f}"
    )
    return {
        PREFIX + "score": score,
        PREFIX + "reason": reason,
        PREFIX + "logp_with_trace": a.mean,
        PREFIX + "logp_without_trace": b.mean,
        PREFIX + "delta": delta,
        PREFIX + "solution_tokens": a.tokens,
        PREFIX + "copied": copied,
    }


def copied_share(trace: str, solution: str, run: int = COPY_RUN) -> float:
    """The share of the solution's words inside a run of min(run, its length) words that the trace holds."""
    tokens = tokenize(pa.array([trace, solution], pa.large_string()))
    words = tokens.words.to_pylist()
    trace_words = [words[c] for c in tokens.codes[tokens.offsets[0] : tokens.offsets[1]]]
    solution_words = [words[c] for c in tokens.codes[tokens.offsets[1] : tokens.offsets[2]]]
    if not solution_words:
        return 0.0
    n = min(run, len(solution_words))
    held = {tuple(trace_words[i : i + n]) for i in range(len(trace_words) - n + 1)}
    covered = [False] * len(solution_words)
    for i in range(len(solution_words) - n + 1):
        if tuple(solution_words[i : i + n]) in held:
            covered[i : i + n] = [True] * n
    return sum(covered) / len(solution_words)


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""
