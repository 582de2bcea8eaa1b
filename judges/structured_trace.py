"""The parser of the `structured` task's completions: the card's tags, the `Trace` a completion is read into,
and `parse_trace`, which reads it once and never raises, whatever the text.

Separate from the rules (judges/structured_format.py) because it knows only the card's layout, not what a
section must say: the rules, the task and the TRL rewards all start from the one `Trace` it returns.
"""

from __future__ import annotations

import re
from typing import Any, NamedTuple

SECTIONS = ("planning", "monitoring", "evaluation")
# Every tag, in the one order the card allows.
TAGS = (
    "<think>",
    "<planning>",
    "</planning>",
    "<monitoring>",
    "</monitoring>",
    "<evaluation>",
    "</evaluation>",
    "</think>",
    "<output>",
    "</output>",
)
# A well-formed trace whose sections hold no "<": one C-speed match answers structure and sections at once.
WELL_FORMED = re.compile(
    r"\s*<think>(\s*<planning>([^<]*)</planning>\s*<monitoring>([^<]*)</monitoring>"
    r"\s*<evaluation>([^<]*)</evaluation>\s*)</think>\s*<output>([^<]*)</output>\s*"
)


class Trace(NamedTuple):
    """What a completion holds. Sections are stripped text, or None when the tags are not there."""

    planning: str | None
    monitoring: str | None
    evaluation: str | None
    output: str | None
    reasoning: str  # inside <think> ... </think> (or all text before <output>, or everything, when broken)
    problem: str | None  # why the structure is wrong; None when it follows the card exactly


def parse_trace(text: Any) -> Trace:
    """Read a completion. A well-formed trace costs one regex match; others a few substring searches."""
    if not isinstance(text, str):
        text = ""
    if match := WELL_FORMED.fullmatch(text):
        reasoning, planning, monitoring, evaluation, output = match.groups()
        return Trace(planning.strip(), monitoring.strip(), evaluation.strip(), output.strip(), reasoning, None)
    positions = _tag_positions(text)
    if positions is not None:  # every tag once and in order, but "<" inside a section or text between tags

        def inside(i: int) -> str:  # the text between tag i and tag i + 1
            return text[positions[i] + len(TAGS[i]) : positions[i + 1]]

        sections = (inside(1).strip(), inside(3).strip(), inside(5).strip(), inside(8).strip())
        reasoning = text[positions[0] + len(TAGS[0]) : positions[7]]
        return Trace(*sections, reasoning, _gap_problem(text, positions))
    return Trace(
        _block(text, "planning"),
        _block(text, "monitoring"),
        _block(text, "evaluation"),
        _block(text, "output"),
        _reasoning(text),
        _order_problem(text),
    )


def shorten(text: str, width: int = 60) -> str:
    """`text` cut to `width` characters (with "..."), for quoting a completion in a verdict's reason."""
    return text if len(text) <= width else text[: width - 3] + "..."


def _tag_positions(text: str) -> list[int] | None:
    """Where each tag starts, when every tag occurs exactly once and in order; else None."""
    positions = []
    start = 0
    for tag in TAGS:
        at = text.find(tag, start)
        if at < 0:
            return None
        positions.append(at)
        start = at + len(tag)
    # Ten tags found in order. Duplicates are impossible when the text has no other "<" (the usual case).
    if text.count("<") != len(TAGS) and any(text.count(tag) != 1 for tag in TAGS):
        return None
    return positions


def _gap_problem(text: str, positions: list[int]) -> str | None:
    """Between the tags (and around the whole trace) only whitespace is allowed."""
    ends = [p + len(t) for p, t in zip(positions, TAGS, strict=True)]
    gaps = ((0, positions[0], "before <think>"),)
    for i in (0, 2, 4, 6, 7):  # after <think>, </planning>, </monitoring>, </evaluation>, </think>
        gaps += ((ends[i], positions[i + 1], f"between {TAGS[i]} and {TAGS[i + 1]}"),)
    gaps += ((ends[9], len(text), "after </output>"),)
    for start, end, where in gaps:
        if end > start and not text[start:end].isspace():
            return f"text {where}: {shorten(text[start:end].strip())!r}"
    return None


def _order_problem(text: str) -> str:
    """The first thing wrong with a trace that is not well formed (the fast path already failed)."""
    for tag in TAGS:
        count = text.count(tag)
        if count == 0:
            return f"missing {tag}"
        if count > 1:
            return f"{tag} appears {count} times"
    positions = [text.find(tag) for tag in TAGS]
    for i in range(1, len(TAGS)):
        if positions[i] < positions[i - 1]:
            return f"{TAGS[i]} comes before {TAGS[i - 1]}"
    return "tags out of order"  # unreachable: unique tags in order take the fast path


def _block(text: str, name: str) -> str | None:
    start = text.find(f"<{name}>")
    if start < 0:
        return None
    start += len(name) + 2
    end = text.find(f"</{name}>", start)
    return None if end < 0 else text[start:end].strip()


def _reasoning(text: str) -> str:
    start = text.find("<think>")
    end = text.find("</think>", start + 1) if start >= 0 else -1
    if start >= 0 and end >= 0:
        return text[start + 7 : end]
    output = text.find("<output>")
    return text[:output] if output >= 0 else text
