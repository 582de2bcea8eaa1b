"""Exact, regex, math-verify and reasoning-gym verifiers: scores, reasons, hostile input, TRL's signature."""

from __future__ import annotations

import json
from importlib.resources import files

import pytest

from judges.math_answer import check_math, math_answer
from judges.reasoning_gym_answer import check_reasoning_gym, reasoning_gym_answer
from judges.verifiers import check_exact, check_regex, exact_answer, regex_answer


def test_exact_compares_numbers_by_value_and_text_normalized():
    assert check_exact("0.50", "1/2").score == 1.0
    assert check_exact("  Paris. ", "paris").score == 1.0
    assert check_exact("Lyon", "Paris") == (0.0, "'lyon' != 'paris'", False)
    assert check_exact("", "Paris").unparsable
    assert check_exact("x", None).score is None and check_exact("x", " ").score is None
    assert exact_answer(["4", "5"], answer=["4", "4"]) == [1.0, 0.0]


def test_regex_captures_the_answer_then_compares():
    pattern = r"#### (-?\d+)"
    assert check_regex("so the total is\n#### 42", "42", pattern).score == 1.0
    assert "captured '41'" in check_regex("#### 41", "42", pattern).reason
    assert check_regex("no marker", "42", pattern).unparsable
    assert check_regex("42", "42", r"\d+").score == 1.0  # no group: the whole match
    assert check_regex("x", "42", "(unclosed").score is None
    assert check_regex("x", "42", None).score is None
    assert regex_answer(["#### 1", "#### 2"], answer=["1", "1"], pattern=[pattern] * 2) == [1.0, 0.0]


@pytest.mark.parametrize(
    ("prediction", "gold", "score"),
    [
        ("The answer is $\\frac{1}{2}$", "0.5", 1.0),
        ("\\boxed{-77}", "-77", 1.0),
        ("so 2/4", "1/2", 1.0),
        ("It is 12", "43", 0.0),
        ("I do not know", "43", 0.0),
    ],
)
def test_math_verify_compares_symbolically(prediction, gold, score):
    assert check_math(prediction, gold).score == score


def test_math_gold_that_cannot_be_parsed_is_skipped_not_zero():
    checked = check_math("42", "no math here at all ###")
    assert checked.score is None and "cannot parse the gold" in checked.reason
    assert check_math("42", None).score is None
    assert check_math("I do not know", "3").unparsable
    assert math_answer(["\\boxed{3}", "4", "x"], answer=["3", "3", None]) == [1.0, 0.0, None]


def test_math_survives_hostile_answers():
    for hostile in ["\\frac{" * 500, "9" * 50_000, "\x00\ud800", "$$$$", "\\boxed{" + "}" * 100]:
        assert check_math(hostile, "3").score in (0.0, 1.0)


def _sample_rows() -> list[dict]:
    path = files("harness") / "data" / "backfill_sample.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_reasoning_gym_scores_every_bundled_sample_row_with_its_own_scorer():
    rows = _sample_rows()
    for row in rows:
        checked = check_reasoning_gym(row["solution"], row["generator"], row["seed"], row["index"], row["config"])
        assert checked.score == 1.0, (row["generator"], row["index"], checked)
    first = rows[0]
    wrong = check_reasoning_gym("12", first["generator"], first["seed"], first["index"], first["config"])
    assert wrong.score < 1.0 and "basic_arithmetic" in wrong.reason


def test_reasoning_gym_rows_that_cannot_be_rebuilt_are_skipped():
    assert check_reasoning_gym("1", None, 1, 0).score is None
    assert check_reasoning_gym("1", "basic_arithmetic", "1", 0).score is None
    assert check_reasoning_gym("1", "basic_arithmetic", 1, -1).score is None
    assert check_reasoning_gym("1", "no_such_dataset", 1, 0).score is None
    assert check_reasoning_gym("1", "basic_arithmetic", 1, 0, "not json").score is None
    assert check_reasoning_gym("1", "basic_arithmetic", 1, 0, '{"no_such_option": 3}').score is None
    assert check_reasoning_gym("", "basic_arithmetic", 1001, 0).unparsable


def test_reasoning_gym_reward_signature():
    scores = reasoning_gym_answer(
        ["43", "44"], generator=["basic_arithmetic"] * 2, seed=[1001] * 2, index=[0, 0], prompts=["p", "p"]
    )
    assert scores == [1.0, 0.0]
