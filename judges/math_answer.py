"""Math answers verified with HuggingFace's `math-verify`, as TRL's and open-r1's accuracy rewards do.

The gold is parsed first; a gold that `math-verify` cannot parse cannot judge anything, so the row scores
None (skipped) rather than 0. The prediction is parsed from the whole text (`\\boxed{}`, LaTeX, or a plain
final number) and `verify(gold, prediction)` compares them symbolically: `1/2`, `0.5` and `\\frac{1}{2}` agree.
"""

from __future__ import annotations

from typing import Any

from judges.verifiers import Checked, completion_text, reward_from_check

MAX_CHARS = 20_000  # math-verify's parse time grows with the text; a hostile answer is cut (its end is kept)


def check_math(prediction: Any, gold: Any) -> Checked:
    from math_verify import parse, verify  # sympy and antlr load on first use, not at `harness --help`

    if gold is None or not str(gold).strip():
        return Checked(None, "no gold answer")
    gold_parsed = _parse(parse, str(gold), extraction_mode="first_match")  # as open-r1 parses its solutions
    if not gold_parsed:
        return Checked(None, f"math-verify cannot parse the gold answer {_shorten(str(gold))!r}")
    text = completion_text(prediction)[-MAX_CHARS:]
    answer_parsed = _parse(parse, text)
    if not answer_parsed:
        return Checked(0.0, "no math answer found", unparsable=True)
    try:
        same = verify(gold_parsed, answer_parsed)
    except Exception as err:  # sympy can fail on exotic expressions: a verdict with a reason, never a crash
        return Checked(0.0, f"math-verify failed to compare: {type(err).__name__}", unparsable=True)
    shown = _shorten(str(answer_parsed[-1]))
    return Checked(1.0, f"{shown} = gold") if same else Checked(0.0, f"{shown} != {_shorten(str(gold_parsed[-1]))}")


# TRL reward: `math_answer(completions, answer=[...])`.
math_answer = reward_from_check(check_math, "math_answer", ("answer",))


def _parse(parse, text: str, **options) -> list:
    try:
        return parse(text, parsing_timeout=5, **options)
    except Exception:  # parse errors are "nothing parsed"
        return []


def _shorten(text: str, width: int = 60) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."
