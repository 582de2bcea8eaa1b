"""Deterministic correctness verifiers, with TRL's reward signature.

`fn(completions, **columns) -> list[float | None]`: 1.0 correct, 0.0 wrong, None when the gold answer itself
cannot be judged (skip the row). The same function filters in `judge`, scores in `eval` and rewards in GRPO.
Completions may be strings or conversational message lists (the last message's content is judged).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from fractions import Fraction
from typing import Any, NamedTuple

MAX_REGEX_INPUT = 100_000  # characters a user's pattern may scan (bounds the cost of a slow pattern)
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


class Checked(NamedTuple):
    """One verifier's finding on one row: the score (None: the gold cannot be judged, skip the row) and why.

    `unparsable` marks a prediction the verifier could not read (scored 0.0, as TRL's rewards do)."""

    score: float | None
    reason: str
    unparsable: bool = False


Check = Callable[..., Checked]


def reward_from_check(
    check: Check, name: str, required: tuple[str, ...], optional: tuple[str, ...] = ()
) -> Callable[..., list[float | None]]:
    """A `check(prediction, *columns) -> Checked` as a TRL reward `fn(completions, **columns) -> scores`.

    `required` columns must be among TRL's keyword lists; `optional` ones are passed when present (else None).
    The judge stage calls the check itself, to keep the reasons; TRL gets the same scores."""

    def reward(completions: list, **columns: Any) -> list[float | None]:
        missing = [c for c in required if c not in columns]
        if missing:
            raise ValueError(f"reward {name} needs the dataset column(s) {missing}")
        names = required + optional
        lists = [columns.get(c) or [None] * len(completions) for c in names]
        return [check(completion, *values).score for completion, *values in zip(completions, *lists, strict=True)]

    reward.__name__ = name  # TRL logs rewards by name
    return reward


def check_exact(prediction: Any, gold: Any) -> Checked:
    """The prediction (already reduced to its final answer) equals the gold, numbers by value, text normalized."""
    if gold is None or not str(gold).strip():
        return Checked(None, "no gold answer")
    text = completion_text(prediction)
    if not text.strip():
        return Checked(0.0, "empty answer", unparsable=True)
    if answers_match(text, str(gold)):
        return Checked(1.0, "matches the gold answer")
    return Checked(0.0, f"{_shorten(normalize_answer(text))!r} != {_shorten(normalize_answer(str(gold)))!r}")


def check_regex(prediction: Any, gold: Any, pattern: Any) -> Checked:
    """The answer is what `pattern` captures in the prediction (its first group, else the whole match),
    compared to the gold as `check_exact` does. A missing or invalid pattern cannot judge: None."""
    if not isinstance(pattern, str) or not pattern:
        return Checked(None, "no regex pattern")
    try:
        compiled = re.compile(pattern)
    except re.error as err:
        return Checked(None, f"invalid regex {pattern!r}: {err}")
    match = compiled.search(completion_text(prediction)[:MAX_REGEX_INPUT])
    if match is None:
        return Checked(0.0, f"the pattern {pattern!r} does not match the answer", unparsable=True)
    found = match.group(1) if compiled.groups and match.group(1) is not None else match.group(0)
    checked = check_exact(found, gold)
    return checked._replace(reason=f"captured {_shorten(found)!r}: {checked.reason}")


def exact_answer(completions: list, answer: list[str | None], **_: Any) -> list[float | None]:
    """Reward: the completion (already reduced to its final answer) equals the gold `answer` column."""
    return [check_exact(c, gold).score for c, gold in zip(completions, answer, strict=True)]


# TRL reward: `regex_answer(completions, answer=[...], pattern=[...])`.
regex_answer = reward_from_check(check_regex, "regex_answer", ("answer", "pattern"))


def _shorten(text: str, width: int = 60) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."
