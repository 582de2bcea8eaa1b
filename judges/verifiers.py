"""Deterministic correctness verifiers, with TRL's reward signature.

`fn(completions, **columns) -> list[float | None]`: 1.0 correct, 0.0 wrong, None when the gold answer itself
cannot be judged (skip the row). The same function filters in `judge`, scores in `eval` and rewards in GRPO.
Completions may be strings or conversational message lists (the last message's content is judged).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from fractions import Fraction
from typing import Any

_NUMBER = re.compile(r"^[-+]?(\d{1,3}(,\d{3})+|\d+)(\.\d+)?$|^[-+]?\d+/\d+$")


def completion_text(completion: Any) -> str:
    """The text of one completion: a string, or the last assistant message of a conversation."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, Mapping):
        content = completion.get("content")
        return content if isinstance(content, str) else ""
    if isinstance(completion, Sequence):
        for message in reversed(completion):
            if isinstance(message, Mapping) and message.get("role", "assistant") == "assistant":
                content = message.get("content")
                return content if isinstance(content, str) else ""
    return ""


def normalize_answer(text: str) -> str:
    """Case, surrounding space and quotes, a trailing period and inner runs of space do not matter."""
    text = " ".join(text.strip().split()).lower()
    return text.strip("\"'`").rstrip(".").strip()


def as_number(text: str) -> Fraction | None:
    """`1,234`, `-3.50`, `3/4` as exact numbers; anything else is not a number."""
    text = normalize_answer(text).replace(" ", "")
    if not _NUMBER.match(text):
        return None
    return Fraction(text.replace(",", ""))


def answers_match(predicted: str, gold: str) -> bool:
    """Numbers compare by value (`0.50` == `1/2`), everything else by normalized text."""
    a, b = as_number(predicted), as_number(gold)
    if a is not None and b is not None:
        return a == b
    return normalize_answer(predicted) == normalize_answer(gold)


def exact_answer(completions: list, answer: list[str | None], **_: Any) -> list[float | None]:
    """Reward: the completion (already reduced to its final answer) equals the gold `answer` column."""
    return [
        None if gold is None or not str(gold).strip() else float(answers_match(completion_text(c), str(gold)))
        for c, gold in zip(completions, answer, strict=True)
    ]
