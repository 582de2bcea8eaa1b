"""Completions and rows shared by the structured-task tests (a plain module, imported by the tests)."""

from __future__ import annotations

from judges.structured_format import Settings
from judges.token_count import TokenCounter

ROW = {
    "question": "Which planet is closest to the Sun?",
    "choices": ["Venus", "Mercury", "Earth", "Mars"],
    "answer": 1,  # 0-based index: option 2, Mercury
}
PLANNING = (
    "The question asks which planet is closest to the Sun among four options: Venus, Mercury, Earth and Mars. "
    "I will recall the order of the planets outward from the Sun and compare each option against that order, so "
    "that the closest one can be picked with a clear reason."
)
MONITORING = (
    "Step 1: the order of the planets from the Sun is Mercury, Venus, Earth, Mars, Jupiter, Saturn, Uranus and "
    "Neptune. Step 2: option 1 is Venus, which is the second planet, so it is not the closest. Option 2 is "
    "Mercury, which is the first planet, therefore it is closer than every other option. Option 3 is Earth, the "
    "third planet, and option 4 is Mars, the fourth planet; because both come after Mercury, neither can be the "
    "answer. Mercury orbits at about 0.39 AU while Venus orbits at about 0.72 AU, which confirms the comparison."
)
EVALUATION = (
    "The comparison is consistent: Mercury is first in the order and has the smallest orbit at 0.39 AU, so option "
    "2 is the closest planet to the Sun. The other three options were each checked against the order and "
    "rejected for a concrete reason."
)


def completion(
    planning: str = PLANNING,
    monitoring: str = MONITORING,
    evaluation: str = EVALUATION,
    output: str = "2",
    before: str = "",
    after: str = "",
) -> str:
    return (
        f"{before}<think>\n<planning>\n{planning}\n</planning>\n<monitoring>\n{monitoring}\n</monitoring>\n"
        f"<evaluation>\n{evaluation}\n</evaluation>\n</think>\n<output>\n{output}\n</output>{after}"
    )


GOOD = completion()


def word_count(text: str) -> int:
    """A stand-in tokenizer for unit tests: one token per word (the real one is tested in integration)."""
    return len(text.split())


SETTINGS = Settings(tokens=TokenCounter(word_count))
