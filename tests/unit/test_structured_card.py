"""The structured task against the Qwen2.5 GRPO structured-reasoning card (tests/fixtures/cards/qwen2.5-grpo-*):
its system prompt, user turn and sampling verbatim, and one case per FORMAT RULE and INVALID RESPONSES item."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from judges.structured_format import (
    CARD_FORBIDDEN_PHRASES,
    calculations,
    explicit_steps,
    forbidden_phrases,
    full_sentences,
    min_tokens,
    no_placeholders,
    output_only,
    parse_trace,
    references_problem,
    structure,
    validate,
)
from tasks.structured import SYSTEM_PROMPT, StructuredTask, user_prompt
from tests.unit.structured_samples import GOOD, MONITORING, PLANNING, ROW, SETTINGS, completion

CARDS = Path(__file__).parents[1] / "fixtures" / "cards"
CARD_SYSTEM_PROMPT = (CARDS / "qwen2.5-grpo-structured.system_prompt.txt").read_text(encoding="utf-8")
CARD_USAGE = (CARDS / "qwen2.5-grpo-structured.usage.py.txt").read_text(encoding="utf-8")
NUMERIC = {"question": "A train covers 120 km in 2 hours. What is its speed in km/h?", "choices": ["40", "60", "80"]}


def run(rule, text: str, row: dict = ROW):
    return rule(parse_trace(text), row, SETTINGS)


# -- the card's text -----------------------------------------------------------------------------------------
def test_system_prompt_is_the_cards_whole_text():
    assert CARD_SYSTEM_PROMPT == SYSTEM_PROMPT
    for line in ("7. The <output> section must contain ONLY the final answer.", "INVALID RESPONSES:"):
        assert f"\n{line}\n" in SYSTEM_PROMPT
    assert SYSTEM_PROMPT.endswith("\nThe format must always be strictly respected.\n")


def test_user_turn_is_built_as_the_cards_code_builds_it():
    """The card's f-strings, evaluated with its own Python formatting of the choices list."""
    pieces = re.findall(r'f"(.*?)"\n', CARD_USAGE.split('"content": (')[1].split(")\n")[0])
    template = "".join(pieces).encode().decode("unicode_escape")
    question, choices = ROW["question"], ROW["choices"]
    assert user_prompt(question, choices) == template.format(question=question, choices=choices)
    assert StructuredTask(tokenizer=len).render(ROW).messages[1]["content"] == template.format(
        question=question, choices=choices
    )


def test_sampling_is_the_cards():
    d = StructuredTask.defaults
    assert f"temperature={d.temperature}," in CARD_USAGE and f"top_p={d.top_p}," in CARD_USAGE
    assert f"max_tokens={d.max_tokens}," in CARD_USAGE


def test_rule_5_phrases_are_the_cards_four():
    listed = re.findall(r'^- "(.+)"$', SYSTEM_PROMPT.split("5. ")[1].split("6. ")[0], re.MULTILINE)
    assert tuple(listed) == CARD_FORBIDDEN_PHRASES


# -- one case per rule -----------------------------------------------------------------------------------------
def test_a_card_conforming_answer_passes_every_rule():
    assert all(v.passed for v in validate(GOOD, ROW, SETTINGS))


def test_rule_1_three_sections_in_order():
    swapped = GOOD.replace("<planning>", "<tmp>").replace("<monitoring>", "<planning>").replace("<tmp>", "<monitoring>")
    assert not run(structure, swapped).passed


def test_rule_2_full_sentences():
    fragments = "Venus second\nMercury first\nEarth third\nMars fourth\n" * 3
    verdict = run(full_sentences, completion(planning=fragments))
    assert not verdict.passed and verdict.reason == "<planning> has no full sentence (5+ words)"
    mostly = PLANNING.split(". ")[0] + ".\n" + "order of planets, distance, Venus, Mercury, Earth, Mars, " * 4
    assert "mostly fragments" in run(full_sentences, completion(evaluation=mostly)).reason
    assert run(full_sentences, GOOD).passed


def test_rule_3_minimum_tokens():
    assert not run(min_tokens, completion(evaluation="Option 2 is right because Mercury is first.")).passed


@pytest.mark.parametrize(
    ("monitoring", "passed"),
    [
        (MONITORING, True),
        ("Speed is distance over time: 120 / 2 = 60 km/h.", True),  # a calculation
        ("Mercury is first, hence it is the closest of the four.", True),  # a deduction
        ("The planets are listed in the options with numbers 1 to 4, so I look.", False),  # a digit and "so"
        ("Mercury is a small planet with a thin atmosphere and many craters.", False),
    ],
)
def test_rule_4_calculations_derivations_or_deductions(monitoring, passed):
    assert run(explicit_steps, completion(monitoring=monitoring)).passed is passed


@pytest.mark.parametrize("phrase", CARD_FORBIDDEN_PHRASES)
def test_rule_5_each_card_phrase_is_rejected(phrase):
    verdict = run(forbidden_phrases, completion(planning=f"First I {phrase.upper()}. {PLANNING}"))
    assert not verdict.passed and verdict.reason == f"uses the generic phrase {phrase!r}"


def test_rule_6_references_the_problem():
    generic = "The answer follows from careful thinking about the matter at hand, as one would expect here."
    text = completion(planning=generic, monitoring=generic, evaluation=generic)
    assert not run(references_problem, text).passed


def test_rule_7_output_only_the_final_answer():
    assert not run(output_only, completion(output="2, because Mercury is first")).passed
    assert run(output_only, completion(output="2")).passed


# -- one case per INVALID RESPONSES item ---------------------------------------------------------------------
def test_invalid_empty_sections():
    verdict = run(no_placeholders, completion(evaluation=""))
    assert not verdict.passed and verdict.reason == "<evaluation> is empty"


@pytest.mark.parametrize("bullet", ["- step 1", "* details", "• ...", "1. TBD", "- calculation:"])
def test_invalid_bullet_point_placeholders(bullet):
    verdict = run(no_placeholders, completion(monitoring=f"{MONITORING}\n{bullet}"))
    assert not verdict.passed and verdict.reason == f"<monitoring> has the placeholder {bullet!r}"


def test_invalid_generic_reasoning():
    text = completion(planning=f"I will determine the strategy. {PLANNING}")
    failing = {v.name for v in validate(text, ROW, SETTINGS) if not v.passed}
    assert failing == {"forbidden_phrases"}


def test_invalid_missing_calculations_when_required():
    words = "The train moves at a steady pace over the whole distance, and the speed is what the question asks. "
    no_calc = completion(monitoring=words * 3 + "Therefore the second option is the answer.")
    verdict = run(calculations, no_calc, NUMERIC)
    assert verdict.reason == "the question asks for a computation ('speed') but <monitoring> shows none"
    with_calc = completion(monitoring=words * 3 + "Speed = 120 / 2 = 60 km/h, therefore option 2.")
    assert run(calculations, with_calc, NUMERIC).passed
    assert run(calculations, no_calc, ROW).reason == "the question asks for no computation"


# "Missing calculations when required": required when the question asks for a computation, not when it holds
# numbers. Hand-labelled: (question, calculations required).
REQUIRED_CASES = [
    ("Which treaty ended the war that began in 1914 and ended in 1918?", False),  # two years, nothing to compute
    ("Which English king reigned from 1485 to 1509?", False),
    ("In 1066 and 1215, which two events shaped English law?", False),
    ("How many chambers does the human heart have?", False),  # a fact: no number to work from
    ("Which of 12 and 15 is the atomic number of magnesium?", False),
    ("Which amendment of the 27 guarantees free speech, ratified in 1791?", False),
    ("A farmer has 3 pens of 12 sheep. How many sheep does he have in total?", True),
    ("Compute the derivative of x squared.", True),
    ("What is 17*23?", True),
    ("What is 17 * 23?", True),
    ("Calculate the molar mass of water.", True),
    ("What is 15% of 80?", True),
    ("A train covers 120 km in 2 hours. What is its speed in km/h?", True),
    ("How long did the war last, from 1337 to 1453?", True),
    ("What is the probability of two heads in two coin flips?", True),
    ("Solve for x: 2x + 3 = 11.", True),
    ("What is the average of 4, 8 and 12?", True),
]


@pytest.mark.parametrize(("question", "required"), REQUIRED_CASES)
def test_calculations_are_required_when_the_question_asks_for_one(question, required):
    row = {"question": question, "choices": ["1", "2", "3", "4"]}
    no_calc = completion(monitoring="Mercury is first, therefore it is the closest one of them here.")
    assert run(calculations, no_calc, row).passed is not required
    with_calc = completion(monitoring="Mercury is first: 3 * 12 = 36, therefore it is the closest one here.")
    assert run(calculations, with_calc, row).passed


def test_invalid_incorrect_tag_order():
    text = GOOD.replace("<output>\n2\n</output>", "").replace("<think>", "<output>2</output>\n<think>")
    verdict = run(structure, text)
    assert not verdict.passed and "before" in verdict.reason
