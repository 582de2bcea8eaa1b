"""`harness select`: training rows from judged rows, question by question.

The input is `harness judge`'s output, or anything synth reads with a `judge_<NAME>_score` column (a user's own
scores): its questions are the rows sharing `--col group=COLUMN` (default: its record_id, else each row alone),
its prompt and response the columns `--col prompt=`/`--col response=` name (defaults in `TEXT_COLUMNS`).

- `best-of-n`: per question, the row with the highest `judge_<NAME>_score` (the earliest wins a tie) becomes
  one SFT-ready conversation: the task's own `messages` (the winning thought + answer), or the prompt and the
  completion as user/assistant turns for tasks without one.
- `pairs`: per question, unique (correct, incorrect) responses paired as the Memphis-CoT card does (the same
  `unique_pairs` as star's pairs artifact): a score >= threshold is correct, below it incorrect. With
  `--conversational`, TRL's conversational preference format: `prompt` is the chat the task sent (system/user
  turns), `chosen`/`rejected` one assistant message each; only for tasks that sent a chat (not raw prompts).

Rows that failed the synth task's own verdicts are left out unless asked. Every output row links back to
the judged rows (`parent_id`, candidate positions). Written through ArtifactWriter, so a rerun resumes.
"""

from __future__ import annotations

import functools
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
from rich.console import Console

from harness.artifacts.groups import Questions, open_questions
from harness.artifacts.schemas import to_table
from harness.artifacts.writer import ArtifactWriter, base_provenance, generated_by
from harness.config import ConfigError, SelectConfig
from harness.engines.session import batched
from harness.progress import StageProgress
from judges.registry import column_name
from judges.selection import (
    BEST_FIELDS,
    CONVERSATIONAL_PAIR_FIELDS,
    SELECTED_PAIR_FIELDS,
    best_candidate,
    pair_rows,
)
from tasks import get_task

SCORE_SUFFIX = "_score"
# Where a user's file holds each text, by default (a harness artifact has `messages`, or its task renders the
# prompt); `--col LOGICAL=COLUMN` names another.
TEXT_COLUMNS = {"prompt": ("prompt", "instruction", "question"), "response": ("completion",)}
GROUP = "group"


@dataclass
class SelectSummary:
    output: str
    judge: str
    questions: int = 0  # questions read by this run
    rows: int = 0  # rows written by this run
    without_row: int = 0  # questions that gave no row (nothing scored, no pair, below --min-score)
    skipped: int = 0  # questions already selected by an earlier run


def run_select(cfg: SelectConfig, console: Console | None = None) -> SelectSummary:
    console = console or Console(stderr=True)
    needs = ("record_id", "source_index", "candidate_idx")
    questions = open_questions(cfg.input, needs, "harness judge", cfg.split, cfg.columns.get(GROUP))
    names = questions.schema.names
    judge = _pick_judge(cfg, names)
    texts = _text_columns(cfg, questions)
    if cfg.conversational:
        _check_conversational(cfg, questions, texts)
    schema = pa.schema(_fields(cfg))
    identity = {
        "mode": cfg.mode,
        **questions.identity,
        "judge": judge,
        "threshold": cfg.threshold if cfg.mode == "pairs" else None,
        "min_score": cfg.min_score if cfg.mode == "best-of-n" else None,
        "include_invalid": cfg.include_invalid,
        **({"conversational": True} if cfg.conversational else {}),  # absent otherwise: older outputs resume
        **({"columns": dict(sorted(cfg.columns.items()))} if cfg.columns else {}),
    }
    select = _best_of_n if cfg.mode == "best-of-n" else _pairs
    summary = SelectSummary(output=str(Path(cfg.output)), judge=judge)
    provenance = {
        **base_provenance(),
        **identity,
        "stage": "select",
        "generated_by": generated_by(questions.upstream),  # the model that wrote the selected texts
        "config": cfg.model_dump(),
    }
    with ArtifactWriter(Path(cfg.output), schema, identity).open(cfg.model_dump()) as writer:
        done = writer.done_record_ids()
        with StageProgress(f"select {cfg.mode}", questions.rows, console, tokens=False) as progress:
            for batch in batched(questions.groups(), cfg.batch_size):
                rows = []
                for group in batch:
                    if group[0]["record_id"] in done:
                        summary.skipped += 1
                        continue
                    selected = select(group, judge, cfg, texts)
                    summary.without_row += not selected
                    rows += selected
                    summary.questions += 1
                if rows:
                    writer.commit(to_table(rows, schema), provenance)
                summary.rows += len(rows)
                progress.advance(sum(map(len, batch)), 0)
        if not writer.has_shards():  # no question gave a row: an empty shard keeps the folder loadable, with its schema
            writer.commit(schema.empty_table(), provenance)
    return summary


@dataclass(frozen=True)
class Texts:
    """The columns a user's file holds its prompt and response in (None: as a harness artifact holds them)."""

    prompt: str | None = None
    response: str | None = None


def _text_columns(cfg: SelectConfig, questions: Questions) -> Texts:
    """Where the prompt and the response are: named by --col, else found by TEXT_COLUMNS in a user's file; an
    artifact's rows have theirs (`messages`, the completion, the task's prompt) unless --col names others.
    Select's own output (a user's file judged) is read the same way."""
    unknown = set(cfg.columns) - {GROUP, *TEXT_COLUMNS}
    if unknown:
        raise ConfigError(f"--col: select reads no column(s) {sorted(unknown)}; it reads {GROUP}, prompt, response")
    names = questions.schema.names
    # A harness task's rows say their texts (`messages`, or the task renders the prompt); a user's do not.
    native = "messages" in names or (questions.artifact and "task" in names)
    found: dict[str, str | None] = {}
    for logical, defaults in TEXT_COLUMNS.items():
        given = cfg.columns.get(logical)
        if given is not None and given not in names:
            raise ConfigError(f"--col {logical}={given}: {questions.label} has no column {given!r}")
        if given is None and native:
            found[logical] = None  # the chat (or the task's prompt) says it
            continue
        found[logical] = given or next((c for c in defaults if c in names), None)
        if found[logical] is None:
            raise ConfigError(
                f"{questions.label}: no column for the {logical} (looked for messages or {' or '.join(defaults)}; "
                f"it has {', '.join(names)}); name one with --col {logical}=COLUMN"
            )
    return Texts(**found)


def _fields(cfg: SelectConfig) -> list[pa.Field]:
    if cfg.mode == "best-of-n":
        return BEST_FIELDS
    return CONVERSATIONAL_PAIR_FIELDS if cfg.conversational else SELECTED_PAIR_FIELDS


def _check_conversational(cfg: SelectConfig, questions: Questions, texts: Texts) -> None:
    """Before any work: conversational pairs need a chat prompt; the first row shows whether the task sent one
    (every row of an artifact comes from one task)."""
    if cfg.mode != "pairs":
        line = ["harness", "select", "pairs", "--conversational", "--input", cfg.input, "--output", cfg.output]
        line += ["--judge", cfg.judge] if cfg.judge else []
        raise ConfigError(f"--conversational applies to pairs (best-of-n rows are chats already): `{shlex.join(line)}`")
    first = next(questions.groups(), None)
    if first:
        _chat_prompt(first[0], texts)


def _pick_judge(cfg: SelectConfig, names: list[str]) -> str:
    judged = [n.removeprefix("judge_").removesuffix(SCORE_SUFFIX) for n in names if _is_score(n)]
    if cfg.judge is not None:
        name = column_name(cfg.judge)
        if name not in judged:
            raise ConfigError(f"{cfg.input}: no judge_{name}_score column; judged by: {', '.join(judged) or 'none'}")
        return name
    if not judged:
        raise ConfigError(
            f"{cfg.input}: no judge_<NAME>_score column to select by (it has {', '.join(names)}); score its rows "
            "with harness judge first, or name a file's own score column judge_<NAME>_score"
        )
    if len(judged) != 1:
        found = ", ".join(judged) or "no judge"
        raise ConfigError(f"{cfg.input}: judged by {found}; name the judge that decides with --judge NAME")
    return judged[0]


def _is_score(name: str) -> bool:
    return name.startswith("judge_") and name.endswith(SCORE_SUFFIX)


def _usable(row: dict[str, Any], cfg: SelectConfig) -> bool:
    if row.get("decontam_clean") is False:  # `harness decontam` found it in an eval set: never selected
        return False
    return cfg.include_invalid or row.get("valid", True) is True


def _best_of_n(group: list[dict[str, Any]], judge: str, cfg: SelectConfig, texts: Texts) -> list[dict[str, Any]]:
    key = f"judge_{judge}{SCORE_SUFFIX}"
    scored = [(row[key] if _usable(row, cfg) and _response(row, texts) else None, row) for row in group]
    best = best_candidate(scored)
    if best is None or (cfg.min_score is not None and best[1] < cfg.min_score):
        return []
    row = group[best[0]]
    return [
        {
            "record_id": row["record_id"],
            "parent_id": row["record_id"],
            "parent_candidate_idx": row["candidate_idx"],
            "parent_sample_idx": row.get("sample_idx"),
            "source_index": row["source_index"],
            "task": row.get("task"),
            "judge": judge,
            "score": best[1],
            "candidates": len(group),
            "messages": _messages(row, texts),
        }
    ]


def _pairs(group: list[dict[str, Any]], judge: str, cfg: SelectConfig, texts: Texts) -> list[dict[str, Any]]:
    key = f"judge_{judge}{SCORE_SUFFIX}"

    def is_correct(row: dict[str, Any]) -> bool | None:
        score = row[key]
        return None if score is None or not _usable(row, cfg) else score >= cfg.threshold

    response = functools.partial(_response, texts=texts)
    pairs = pair_rows(group, is_correct, functools.partial(_prompt, texts=texts), response)
    by_text = {}
    for row in group:  # the first row with a text is the one unique_pairs kept
        by_text.setdefault(response(row), row)
    out = []
    for pair in pairs:
        good, bad = by_text[pair["chosen"]], by_text[pair["rejected"]]
        if cfg.conversational:
            pair = {**pair, **_conversational(good, bad, texts)}
        out.append(
            {
                **pair,
                "parent_id": good["record_id"],
                "chosen_candidate_idx": good["candidate_idx"],
                "rejected_candidate_idx": bad["candidate_idx"],
                "judge": judge,
                "chosen_score": good[key],
                "rejected_score": bad[key],
            }
        )
    return out


def _response(row: dict[str, Any], texts: Texts) -> str | None:
    """The whole assistant turn: the task's conversation's last message, else the raw completion (a user's file:
    its response column)."""
    if texts.response is not None:
        value = row.get(texts.response)
        return value if isinstance(value, str) and value else None
    messages = row.get("messages")
    if messages and messages[-1].get("role") == "assistant":
        return messages[-1]["content"]
    return row.get("completion") or None


def _prompt(row: dict[str, Any], texts: Texts) -> str | None:
    """The prompt as text: the raw prompt the task sent, or the last user turn of a chat prompt."""
    messages = _request_messages(row, texts)
    if isinstance(messages, str):
        return messages
    users = [m["content"] for m in messages or [] if m["role"] == "user"]
    return users[-1] if users else None


def _conversational(good: dict[str, Any], bad: dict[str, Any], texts: Texts) -> dict[str, list[dict[str, str]]]:
    """prompt/chosen/rejected as TRL's conversational preference format: the chat the task sent, and each
    answer's whole assistant turn (the same text as the plain format's chosen/rejected)."""
    return {
        "prompt": _chat_prompt(good, texts),
        "chosen": [_messages(good, texts)[-1]],
        "rejected": [_messages(bad, texts)[-1]],
    }


def _chat_prompt(row: dict[str, Any], texts: Texts) -> list[dict[str, str]]:
    request = _request_messages(row, texts)
    if not isinstance(request, list) or not request:
        what = "a raw prompt" if isinstance(request, str) else "no prompt that can be rebuilt"
        raise ConfigError(
            f"--conversational: row record_id={row.get('record_id')} candidate_idx={row.get('candidate_idx')} "
            f"(task {row.get('task')!r}) has {what}, not chat messages; select plain pairs without --conversational"
        )
    return request


def _messages(row: dict[str, Any], texts: Texts) -> list[dict[str, str]]:
    if row.get("messages") and texts.response is None:
        return [{"role": m["role"], "content": m["content"]} for m in row["messages"]]
    request = _request_messages(row, texts)
    turns = [{"role": "user", "content": request}] if isinstance(request, str) else list(request or [])
    return [*turns, {"role": "assistant", "content": _response(row, texts) or ""}]


def _request_messages(row: dict[str, Any], texts: Texts) -> str | list[dict[str, str]] | None:
    """What the synth task sent for this row: a raw prompt (text) or chat messages (with the assistant's
    forced prefix left out: the completion does not repeat it, and `messages`, where the task has it, holds it);
    a user's file: its prompt column, text or chat messages."""
    if texts.prompt is not None:
        value = row.get(texts.prompt)
        if isinstance(value, list):
            return [{"role": m["role"], "content": m["content"]} for m in value if isinstance(m, dict)]
        return value if isinstance(value, str) else None
    messages = row.get("messages")
    if messages:
        return [{"role": m["role"], "content": m["content"]} for m in messages[:-1]]
    try:
        task = get_task(row.get("task") or "")
        request = task.render(task.values_from_output(row), row.get("variant") or "")
    except (ValueError, KeyError, TypeError):
        return None
    return request.prompt if request.prompt is not None else [dict(m) for m in request.messages]
