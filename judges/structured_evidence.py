"""What the `structured` task's rules look for in a section's text: the patterns of a calculation, a relation, a
deduction and a placeholder, the problem's values (numbers and key terms), and the searches that find them.

Separate from the rules (judges/structured_format.py), which decide a verdict from what these searches find:
the patterns are where the bounds against hostile text live (quantifiers capped, cheap scans first), and they
are read and tuned apart from the card's rules.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from judges.structured_trace import shorten

# Card rule 4: "explicit reasoning steps, including calculations, derivations, or logical deductions". A
# calculation is arithmetic between numbers or an equation; a derivation or deduction is a logical consequence
# word. A lone digit or "so" is neither.
# Quantifiers are bounded so that hostile text (megabytes of digits or spaces) stays linear.
CALCULATION = re.compile(
    r"\d[\d.,]{0,20}\s{0,3}(?:[-+*/×÷^x]|\*\*)\s{0,3}\(?-?\d"  # 3 + 4, 0.5 * 12, 2^3, 6x7
    r"|\d\s?%\s{0,3}of\s{1,3}\d",  # 20% of 50
    re.IGNORECASE,
)
# An equation or relation: x = 4, f(2) ≈ 0.3, a <= b. Searched only where a relation sign occurs at all
# (a scan for the sign is C-speed; this pattern would try every word character).
RELATION = re.compile(r"[\w)\]]\s{0,3}(?:=|≈|≠|<=|>=|≤|≥)\s{0,3}[-\w(]")
RELATION_SIGNS = ("=", "≈", "≠", "≤", "≥")
DEDUCTIONS = (
    "therefore",
    "thus",
    "hence",
    "consequently",
    "it follows",
    "which means",
    "this means",
    "implies",
    "because",
    "we can conclude",
    "we conclude",
    "rules out",
    "must be",
    "cannot be",
)
# INVALID "Missing calculations when required": required when the question asks for a computation, which it
# does by a computing word or an arithmetic expression (always), or by asking for a quantity while it gives a
# number to work from ("how long ... from 1337 to 1453?"; "how many chambers has the heart?" asks for a fact).
# Two years in a history question ask for nothing to compute. Matched as whole words, case-insensitively.
COMPUTE_WORDS = (
    "compute",
    "calculate",
    "calculation",
    "solve",
    "simplify",
    "in total",
    "total of",
    "the total",
    "sum of",
    "product of",
    "average",
    "percent",
    "percentage",
    "probability",
    "ratio",
    "remainder",
    "square root",
    "how many more",
    "how much more",
    "how many times",
    "find the value",
    "what is the value",
)
QUANTITY_WORDS = (
    "how many",
    "how much",
    "how long",
    "how far",
    "how fast",
    "how old",
    "speed",
    "velocity",
    "distance",
    "area",
    "volume",
    "cost",
    "mass",
    "density",
    "rate",
    "interest",
    "profit",
)
PERCENT = re.compile(r"\d\s?%")
IF_THEN = re.compile(r"\bif\b[^.!?]{1,200}?\bthen\b", re.IGNORECASE)
# INVALID "Bullet point placeholders": a bullet that names a step without taking it ("- step 1", "* details").
GENERIC_BULLET = re.compile(
    r"(?:step|point|item|idea|reason|detail|details|note|notes|calculation|calculations|analysis|reasoning)"
    r"\s{0,3}\d{0,3}\s?[.:]?",
    re.IGNORECASE,
)
# A line that is only a bullet, an ellipsis or a to-do word is a placeholder, not reasoning.
BULLET = re.compile(r"(?:[-*•+‐–]|\d{1,2}[.)])\s*")
PLACEHOLDER_WORDS = frozenset({"", "...", "…", "tbd", "tba", "todo", "n/a", "etc", "etc.", "[...]", "(...)", "xxx"})
NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
WORD = re.compile(r"[^\W\d_]{5,}")  # key terms: words of 5+ letters
# Words too common to count as a problem's key terms.
STOPWORD_TEXT = (
    "about above after again against always among answer based because before being below between choose "
    "correct could doing during every following given might never often option options other question "
    "questions right select should shown since statement statements still their there these thing things "
    "those through under until using what where which while whose within without would"
)
STOPWORDS = frozenset(STOPWORD_TEXT.split())
MAX_REFERENCE_CANDIDATES = 24  # bounds the work per row on long questions


def mentions(lowered: str, needle: str) -> bool:
    """`needle` occurs in `lowered` as a whole word or number (not inside a longer one)."""
    at = lowered.find(needle)
    while at >= 0:
        end = at + len(needle)
        before = lowered[at - 1] if at else " "
        after = lowered[end] if end < len(lowered) else " "
        if not (before.isalnum() or before == "_") and not (after.isalnum() or after == "_"):
            return True
        at = lowered.find(needle, at + 1)
    return False


def problem_of(row: Mapping[str, Any]) -> tuple[str, tuple[str, ...]] | None:
    """The row's question and its text options; None when the row has no question."""
    question = row.get("question")
    if not isinstance(question, str):
        return None
    choices = row.get("choices")
    return question, tuple(c for c in choices if isinstance(c, str)) if isinstance(choices, list | tuple) else ()


@lru_cache(maxsize=4096)  # the same problem comes back for every sample (n, GRPO's generations)
def problem_values(question: str, choices: tuple[str, ...]) -> tuple[list[str], list[str]]:
    """The problem's numbers and key terms (lowercased, first occurrence first), at most
    MAX_REFERENCE_CANDIDATES of each."""
    text = question + "\n" + "\n".join(choices)
    numbers = list(dict.fromkeys(NUMBER.findall(text)))
    terms = [t for t in dict.fromkeys(w.lower() for w in WORD.findall(question)) if t not in STOPWORDS]
    if not terms:  # a question like "Which is correct?" names its values in the options
        terms = [t for t in dict.fromkeys(w.lower() for w in WORD.findall(text)) if t not in STOPWORDS]
    return numbers[:MAX_REFERENCE_CANDIDATES], terms[:MAX_REFERENCE_CANDIDATES]


def placeholder_line(section: str) -> str | None:
    """The first line of `section` that is only a bullet, a placeholder word or a generic bullet (None: none)."""
    for line in section.splitlines():
        stripped = line.strip()
        if not stripped:
            continue
        bullet = BULLET.match(stripped)
        body = stripped[bullet.end() :] if bullet else stripped
        if body.lower() in PLACEHOLDER_WORDS:
            return stripped
        if bullet and GENERIC_BULLET.fullmatch(body):
            return stripped
    return None


def find_step(monitoring: str) -> str | None:
    """A deduction, calculation or derivation in <monitoring> (None: none); the cheapest checks first."""
    lowered = monitoring.lower()
    for word in DEDUCTIONS:
        if word in lowered and mentions(lowered, word):
            return word
    if calc := find_calculation(monitoring):
        return calc
    if if_then := IF_THEN.search(monitoring):
        return shorten(if_then.group(), 40)
    return None


def asks_for_computation(question: str) -> str | None:
    """What in the question asks for a computation (None: nothing does): a computing word, an arithmetic
    expression or a percentage, or a quantity word in a question that gives a number."""
    lowered = question.lower()
    for word in COMPUTE_WORDS:
        if word in lowered and mentions(lowered, word):
            return word
    if match := CALCULATION.search(question) or PERCENT.search(question):
        return match.group()
    if NUMBER.search(question):
        for word in QUANTITY_WORDS:
            if word in lowered and mentions(lowered, word):
                return word
    return None


def find_calculation(text: str) -> str | None:
    """Arithmetic between numbers, or an equation/relation."""
    if match := CALCULATION.search(text):
        return match.group()
    if any(sign in text for sign in RELATION_SIGNS) and (match := RELATION.search(text)):
        return match.group()
    return None
