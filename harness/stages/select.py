"""`harness select`: training rows from a judged artifact, question by question.

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

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from rich.console import Console

from harness.artifacts.groups import artifact_shards, count_rows, question_groups
from harness.artifacts.schemas import to_table
from harness.artifacts.writer import ArtifactWriter, base_provenance, generated_by, read_provenance
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
    shards = artifact_shards(Path(cfg.input), ("record_id", "source_index", "candidate_idx"), "harness judge")
    names = pq.read_schema(shards[0]).names
    judge = _pick_judge(cfg, names)
    if cfg.conversational:
        _check_conversational(cfg, shards)
    schema = pa.schema(_fields(cfg))
    identity = {
        "mode": cfg.mode,
        "input": str(Path(cfg.input)),
        "judge": judge,
        "threshold": cfg.threshold if cfg.mode == "pairs" else None,
        "min_score": cfg.min_score if cfg.mode == "best-of-n" else None,
        "include_invalid": cfg.include_invalid,
        **({"conversational": True} if cfg.conversational else {}),  # absent otherwise: older outputs resume
    }
    select = _best_of_n if cfg.mode == "best-of-n" else _pairs
    summary = SelectSummary(output=str(Path(cfg.output)), judge=judge)
    provenance = {
        **base_provenance(),
        **identity,
        "stage": "select",
        "generated_by": generated_by(read_provenance(shards[0])),  # the model that wrote the selected texts
        "config": cfg.model_dump(),
    }
    with ArtifactWriter(Path(cfg.output), schema, identity).open(cfg.model_dump()) as writer:
        done = writer.done_record_ids()
        with StageProgress(f"select {cfg.mode}", count_rows(shards), console, tokens=False) as progress:
            for batch in batched(question_groups(shards), cfg.batch_size):
                rows = []
                for group in batch:
                    if group[0]["record_id"] in done:
                        summary.skipped += 1
                        continue
                    selected = select(group, judge, cfg)
                    summary.without_row += not selected
                    rows += selected
                    summary.questions += 1
                if rows:
                    writer.commit(to_table(rows, schema), provenance)
                summary.rows += len(rows)
                progress.advance(sum(map(len, batch)), 0)
        if not writer.shards():  # no question gave a row: an empty shard keeps the folder loadable, with its schema
            writer.commit(schema.empty_table(), provenance)
    return summary


def _fields(cfg: SelectConfig) -> list[pa.Field]:
    if cfg.mode == "best-of-n":
        return BEST_FIELDS
    return CONVERSATIONAL_PAIR_FIELDS if cfg.conversational else SELECTED_PAIR_FIELDS


def _check_conversational(cfg: SelectConfig, shards: list[Path]) -> None:
    """Before any work: conversational pairs need a chat prompt; the first row shows whether the task sent one
    (every row of an artifact comes from one task)."""
    if cfg.mode != "pairs":
        raise ConfigError("--conversational applies to `harness select pairs` (best-of-n rows are chats already)")
    first = pq.ParquetFile(shards[0]).read_row_group(0).slice(0, 1).to_pylist()
    if first:
        _chat_prompt(first[0])


def _pick_judge(cfg: SelectConfig, names: list[str]) -> str:
    judged = [n.removeprefix("judge_").removesuffix(SCORE_SUFFIX) for n in names if _is_score(n)]
    if cfg.judge is not None:
        name = column_name(cfg.judge)
        if name not in judged:
            raise ConfigError(f"{cfg.input}: no judge_{name}_score column; judged by: {', '.join(judged) or 'none'}")
        return name
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


def _best_of_n(group: list[dict[str, Any]], judge: str, cfg: SelectConfig) -> list[dict[str, Any]]:
    key = f"judge_{judge}{SCORE_SUFFIX}"
    scored = [(row[key] if _usable(row, cfg) and _response(row) else None, row) for row in group]
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
            "messages": _messages(row),
        }
    ]


def _pairs(group: list[dict[str, Any]], judge: str, cfg: SelectConfig) -> list[dict[str, Any]]:
    key = f"judge_{judge}{SCORE_SUFFIX}"

    def is_correct(row: dict[str, Any]) -> bool | None:
        score = row[key]
        return None if score is None or not _usable(row, cfg) else score >= cfg.threshold

    pairs = pair_rows(group, is_correct, _prompt, _response)
    by_text = {}
    for row in group:  # the first row with a text is the one unique_pairs kept
        by_text.setdefault(_response(row), row)
    out = []
    for pair in pairs:
        good, bad = by_text[pair["chosen"]], by_text[pair["rejected"]]
        if cfg.conversational:
            pair = {**pair, **_conversational(good, bad)}
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


def _response(row: dict[str, Any]) -> str | None:
    """The whole assistant turn: the task's conversation's last message, else the raw completion."""
    messages = row.get("messages")
    if messages and messages[-1].get("role") == "assistant":
        return messages[-1]["content"]
    return row.get("completion") or None


def _prompt(row: dict[str, Any]) -> str | None:
    """The prompt as text: the raw prompt the task sent, or the last user turn of a chat prompt."""
    messages = _request_messages(row)
    if isinstance(messages, str):
        return messages
    users = [m["content"] for m in messages or [] if m["role"] == "user"]
    return users[-1] if users else None


def _conversational(good: dict[str, Any], bad: dict[str, Any]) -> dict[str, list[dict[str, str]]]:
    """prompt/chosen/rejected as TRL's conversational preference format: the chat the task sent, and each
    answer's whole assistant turn (the same text as the plain format's chosen/rejected)."""
    return {
        "prompt": _chat_prompt(good),
        "chosen": [_messages(good)[-1]],
        "rejected": [_messages(bad)[-1]],
    }


def _chat_prompt(row: dict[str, Any]) -> list[dict[str, str]]:
    request = _request_messages(row)
    if not isinstance(request, list) or not request:
        what = "a raw prompt" if isinstance(request, str) else "no prompt that can be rebuilt"
        raise ConfigError(
            f"--conversational: row record_id={row.get('record_id')} candidate_idx={row.get('candidate_idx')} "
            f"(task {row.get('task')!r}) has {what}, not chat messages; select plain pairs without --conversational"
        )
    return request


def _messages(row: dict[str, Any]) -> list[dict[str, str]]:
    if row.get("messages"):
        return [{"role": m["role"], "content": m["content"]} for m in row["messages"]]
    request = _request_messages(row)
    turns = [{"role": "user", "content": request}] if isinstance(request, str) else list(request or [])
    return [*turns, {"role": "assistant", "content": row.get("completion") or ""}]


def _request_messages(row: dict[str, Any]) -> str | list[dict[str, str]] | None:
    """What the synth task sent for this row: a raw prompt (text) or chat messages (with the assistant's
    forced prefix left out: the completion does not repeat it, and `messages`, where the task has it, holds it)."""
    messages = row.get("messages")
    if messages:
        return [{"role": m["role"], "content": m["content"]} for m in messages[:-1]]
    try:
        task = get_task(row.get("task") or "")
        request = task.render(task.values_from_output(row), row.get("variant") or "")
    except (ValueError, KeyError, TypeError):
        return None
    return request.prompt if request.prompt is not None else [dict(m) for m in request.messages]
