"""Selecting training data from judged samples: the best answer per question, (correct, incorrect) pairs.

Pure functions over one question's rows (dicts in artifact order). `star` builds its pairs artifact with
`pair_rows` at synth time; `harness select pairs` builds the same rows from any judge's scores.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import pyarrow as pa

from harness.artifacts.schemas import MESSAGES

T = TypeVar("T")
Row = dict[str, Any]

# TRL's preference format (prompt, chosen, rejected) with the question's identity: star's pairs artifact.
PAIR_FIELDS = [
    pa.field("record_id", pa.string(), nullable=False),  # the question's record_id in the samples artifact
    pa.field("source_index", pa.int64(), nullable=False),
    pa.field("pair_idx", pa.int32(), nullable=False),
    pa.field("question", pa.string()),
    pa.field("reference", pa.string()),
    pa.field("prompt", pa.string()),
    pa.field("chosen", pa.string()),
    pa.field("rejected", pa.string()),
    pa.field("chosen_sample_idx", pa.int32()),
    pa.field("rejected_sample_idx", pa.int32()),
]
# `harness select pairs` adds the links back to the judged rows and the scores that decided.
SELECTED_PAIR_FIELDS = PAIR_FIELDS + [
    pa.field("parent_id", pa.string(), nullable=False),  # the judged rows' record_id
    pa.field("chosen_candidate_idx", pa.int32(), nullable=False),  # which of the question's rows
    pa.field("rejected_candidate_idx", pa.int32(), nullable=False),
    pa.field("judge", pa.string(), nullable=False),
    pa.field("chosen_score", pa.float64()),
    pa.field("rejected_score", pa.float64()),
]
# `harness select pairs --conversational`: TRL's conversational preference format, the same columns with
# `prompt` as the chat the task sent and `chosen`/`rejected` as one assistant message each.
CONVERSATIONAL_COLUMNS = ("prompt", "chosen", "rejected")
CONVERSATIONAL_PAIR_FIELDS = [
    f.with_type(MESSAGES) if f.name in CONVERSATIONAL_COLUMNS else f for f in SELECTED_PAIR_FIELDS
]
# `harness select best-of-n`: one SFT-ready conversation per question.
BEST_FIELDS = [
    pa.field("record_id", pa.string(), nullable=False),  # the question's record_id in the judged artifact
    pa.field("parent_id", pa.string(), nullable=False),  # the winning row's record_id ...
    pa.field("parent_candidate_idx", pa.int32(), nullable=False),  # ... and its place among the question's rows
    pa.field("parent_sample_idx", pa.int32()),
    pa.field("source_index", pa.int64(), nullable=False),
    pa.field("task", pa.string()),
    pa.field("judge", pa.string(), nullable=False),
    pa.field("score", pa.float64(), nullable=False),
    pa.field("candidates", pa.int32(), nullable=False),  # rows the winner was chosen from
    pa.field("messages", MESSAGES, nullable=False),  # system/user/assistant with the winning thought + answer
]


def unique_pairs(correct: list[tuple[str, T]], incorrect: list[tuple[str, T]]) -> list[tuple[T, T]]:
    """(correct, incorrect) pairs for one question, as the Memphis-CoT card builds them.

    Each side is first made unique by its text (the first occurrence is kept); the i-th unique correct response
    is paired with the i-th unique incorrect one, so each response is used at most once, and the extras on the
    longer side are discarded. Items are (text, payload); the payloads are returned.
    """

    def unique(items: list[tuple[str, T]]) -> list[T]:
        seen: set[str] = set()
        kept = []
        for text, payload in items:
            if text not in seen:
                seen.add(text)
                kept.append(payload)
        return kept

    return list(zip(unique(correct), unique(incorrect), strict=False))


def pair_rows(
    samples: list[Row],
    is_correct: Callable[[Row], bool | None],
    prompt_of: Callable[[Row], str | None],
    response_of: Callable[[Row], str | None],
) -> list[Row]:
    """The pairs rows of one question. `is_correct` None leaves a sample out (ungraded, or unusable)."""
    graded = [(s, verdict) for s in samples if (verdict := is_correct(s)) is not None and response_of(s)]
    correct = [(response_of(s), s) for s, verdict in graded if verdict]
    incorrect = [(response_of(s), s) for s, verdict in graded if not verdict]
    return [
        {
            "record_id": good["record_id"],
            "source_index": good["source_index"],
            "pair_idx": i,
            "question": _first_text(good, "question", "instruction"),
            "reference": _first_text(good, "reference", "solution"),
            "prompt": prompt_of(good),
            "chosen": response_of(good),
            "rejected": response_of(bad),
            "chosen_sample_idx": good.get("sample_idx"),
            "rejected_sample_idx": bad.get("sample_idx"),
        }
        for i, (good, bad) in enumerate(unique_pairs(correct, incorrect))
    ]


def best_candidate(scored: list[tuple[float | None, Row]]) -> tuple[int, float] | None:
    """(position, score) of the highest score; the earliest row wins a tie. None when nothing is scored."""
    best: tuple[int, float] | None = None
    for i, (score, _) in enumerate(scored):
        if score is not None and (best is None or score > best[1]):
            best = (i, score)
    return best


def _first_text(row: Row, *names: str) -> str | None:
    return next((row[n] for n in names if isinstance(row.get(n), str)), None)
