"""The multiple-choice verifier: letters and option numbers, hostile and malformed answers, TRL's signature."""

from __future__ import annotations

import pytest

from judges.multiple_choice import check_choice, mc_answer, parse_choice


@pytest.mark.parametrize(
    ("text", "option"),
    [
        ("C", 3),
        ("c", 3),
        ("(c)", 3),
        ("[B]", 2),
        ("D.", 4),
        ("Answer: C", 3),
        ("The answer is (b) because it is larger.", 2),
        ("answer is B", 2),
        ("Option B", 2),
        ("3", 3),
        ("option 3", 3),
        ("(3)", 3),
        ("3. Paris", 3),
        ("I think B is right", 2),  # "I" is not an option of four
        ("After much thought, the answer is option 2.", 2),
        ("<output>2</output>", 2),
    ],
)
def test_parse_choice_reads_letters_and_numbers(text, option):
    assert parse_choice(text, 4) == option


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "A or B",
        "Answer: A. No wait, answer: C",  # two different answers named: ambiguous, not the first
        "E",  # out of range for four options
        "option 7",
        "no idea",
        "2 or 3",
        "a" * 100_000,
        None,
        42,
        ["A"],
    ],
)
def test_parse_choice_never_guesses(text):
    assert parse_choice(text, 4) is None


def test_letters_follow_the_number_of_choices():
    assert parse_choice("E", 5) == 5
    assert parse_choice("E") is None  # A-D when the number of choices is unknown
    assert parse_choice("7") == 7  # a number is an option number whatever the count


def test_check_choice_scores_and_explains():
    choices = ["Mercury", "Venus", "Earth", "Mars"]
    assert check_choice("Answer: C", 2, choices) == (1.0, "option 3", False)  # gold 2 is a 0-based index
    assert check_choice("Answer: C", "C", choices).score == 1.0
    assert check_choice("option 3", "3", choices).score == 1.0  # a gold digit string is 1-based
    wrong = check_choice("(a)", "C", choices)
    assert wrong.score == 0.0 and wrong.reason == "chose option 1, the answer is option 3"
    unreadable = check_choice("I cannot decide", "C", choices)
    assert unreadable.score == 0.0 and unreadable.unparsable
    assert check_choice("C", "Z", choices).score is None  # a gold that is no option cannot judge
    assert check_choice("C", None, choices).score is None


def test_mc_answer_has_trls_reward_signature():
    completions = ["Answer: B", [{"role": "assistant", "content": "(d)"}], "nothing"]
    scores = mc_answer(completions, answer=["B", 3, 0], choices=[["w", "x", "y", "z"]] * 3, prompts=["p"] * 3)
    assert scores == [1.0, 1.0, 0.0]
    assert mc_answer.__name__ == "mc_answer"
    assert mc_answer(["A"], answer=[None]) == [None]
    with pytest.raises(ValueError, match="needs the dataset column"):
        mc_answer(["A"], choices=[["x"]])
