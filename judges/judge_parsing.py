"""Reading LLM judges' replies. Never raises: an unreadable reply is `Parsed(None, reason)`.

Before any parse, everything the judge echoed of the judged texts is removed: fenced blocks (closed or not)
and verbatim copies of a judged text or of its longer lines. A score or verdict written inside an answer
therefore cannot become the judge's. A reply that states two different results is ambiguous: no result.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Generic, NamedTuple, TypeVar

from judges.judge_prompts import Fenced

T = TypeVar("T")
MAX_REPLY = 20_000  # characters of a reply read (a runaway judge can write a lot)
MIN_ECHO_LINE = 12  # shorter lines of an answer ("Score: 3") are too common to strip from a reply

FENCED_BLOCK = re.compile(r"<answer_(\w+)>.*?(?:</answer_\1>|\Z)", re.DOTALL)
SCORE = re.compile(
    r"\b(?:score|rating)\b\s*(?:is|of)?\s*[:=]?\s*[*\[(]*\s*(-?\d+(?:\.\d+)?)\s*(?:/\s*(\d+))?", re.IGNORECASE
)
BRACKETED = re.compile(r"\[\[\s*(-?\d+(?:\.\d+)?)\s*\]\]")
NUMBER_ONLY = re.compile(r"\s*[*\[(]*\s*(-?\d+(?:\.\d+)?)\s*[*\])]*\s*(?:/\s*(\d+))?\s*\.?\s*")
VERDICT = re.compile(r"\bverdict\b\s*(?:is)?\s*[:=]?\s*[*\[(\"']*\s*(A|B|tie)\b", re.IGNORECASE)
BRACKET_VERDICT = re.compile(r"\[\[\s*(A|B|C|tie)\s*\]\]", re.IGNORECASE)
RANKING = re.compile(r"\branking\b\s*[:=]?\s*([\d\s>,;.\[\]()]+)", re.IGNORECASE)
RANK_LINE = re.compile(r"^\s*\[?\s*(\d+(?:\s*(?:>|,)\s*\d+)+)\s*\]?\s*\.?\s*$", re.MULTILINE)


class Parsed(NamedTuple, Generic[T]):
    value: T | None
    reason: str


def strip_echoes(reply: str, fenced: Iterable[Fenced]) -> str:
    """The reply without any fenced block and without verbatim copies of the judged texts."""
    text = FENCED_BLOCK.sub(" ", reply[:MAX_REPLY])
    for item in fenced:
        if len(item.text.strip()) >= MIN_ECHO_LINE:
            text = text.replace(item.text.strip(), " ")
        for line in item.text.splitlines():
            if len(line.strip()) >= MIN_ECHO_LINE:
                text = text.replace(line.strip(), " ")
    return text


def parse_score(reply: str, fenced: Iterable[Fenced], low: int, high: int) -> Parsed[float]:
    """`Score: 7`, `Rating: 7/10`, `[[7]]`, or a reply that is only the number; within low..high."""
    text = strip_echoes(reply, fenced)
    found = [(m[1], m[2]) for m in SCORE.finditer(text)] + [(m, None) for m in BRACKETED.findall(text)]
    if not found and (alone := NUMBER_ONLY.fullmatch(text)):
        found = [(alone[1], alone[2])]
    if not found:
        return Parsed(None, f"no score in the judge's reply: {_shorten(reply)!r}")
    scale_of = {scale for _, scale in found if scale is not None}
    if scale_of and scale_of != {str(high)}:
        return Parsed(None, f"score out of /{'/'.join(sorted(scale_of))}, expected /{high}: {_shorten(reply)!r}")
    values = {float(value) for value, _ in found}
    if len(values) > 1:
        return Parsed(None, f"ambiguous: several scores {sorted(values)} in the judge's reply")
    value = values.pop()
    if not low <= value <= high:
        return Parsed(None, f"score {value:g} outside {low}..{high}")
    return Parsed(value, f"score {value:g}")


def parse_preference(reply: str, fenced: Iterable[Fenced]) -> Parsed[str]:
    """`Verdict: A`, `Verdict: B`, `Verdict: tie` (or `[[A]]`, `[[B]]`, `[[C]]` for a tie): "A", "B" or "tie"."""
    text = strip_echoes(reply, fenced)
    found = {_side(m) for m in VERDICT.findall(text)} | {_side(m) for m in BRACKET_VERDICT.findall(text)}
    if not found:
        return Parsed(None, f"no verdict in the judge's reply: {_shorten(reply)!r}")
    if len(found) > 1:
        return Parsed(None, f"ambiguous: verdicts {sorted(found)} in the judge's reply")
    side = found.pop()
    return Parsed(side, f"verdict {side}")


def parse_ranking(reply: str, fenced: Iterable[Fenced], k: int) -> Parsed[list[int]]:
    """`Ranking: 3 > 1 > 2` (or a line of numbers joined by > or ,): 0-based indices, best first.

    Every number 1..k exactly once; anything else (missing, repeated, out of range, two rankings) is no ranking."""
    text = strip_echoes(reply, fenced)
    candidates = [m for m in RANKING.findall(text)] or RANK_LINE.findall(text)
    orders = {tuple(int(n) for n in re.findall(r"\d+", c)) for c in candidates}
    orders.discard(())
    if not orders:
        return Parsed(None, f"no ranking in the judge's reply: {_shorten(reply)!r}")
    if len(orders) > 1:
        return Parsed(None, f"ambiguous: {len(orders)} different rankings in the judge's reply")
    order = orders.pop()
    if sorted(order) != list(range(1, k + 1)):
        return Parsed(None, f"ranking {' > '.join(map(str, order))} is not a permutation of 1..{k}")
    return Parsed([n - 1 for n in order], "ranked " + " > ".join(map(str, order)))


def _side(token: str) -> str:
    token = token.upper()
    return "tie" if token in ("C", "TIE") else token


def _shorten(text: str, width: int = 80) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 3] + "..."
