"""The generative eval's prompt builder and scorer (structured-reasoning format): the task's validators decide."""

from __future__ import annotations

import pytest

from judges.structured_format import FORMAT_RULES
from tasks.structured import SYSTEM_PROMPT as TASK_SYSTEM_PROMPT
from tasks.structured_mc import DEFAULTS, SYSTEM_PROMPT, parse_answer, user_prompt
from tests.unit.structured_samples import GOOD, ROW, SETTINGS, completion

QUESTION, CHOICES = ROW["question"], ROW["choices"]


def parse(text: str):
    return parse_answer(text, 4, QUESTION, CHOICES, SETTINGS)  # tokens counted as words: no tokenizer to load


def failed(text: str) -> set[str]:
    return {v.name for v in parse(text).verdicts if not v.passed}


def test_user_prompt_is_the_cards():
    assert user_prompt("What is 2+2?", ["3", "4", "5", "6"]) == (
        "Examine the following question and select the right answer from given options.\n"
        "The output must be only the number of the option.\n"
        "Question: What is 2+2?\n"
        "Provided options: ['3', '4', '5', '6']\n"
    )


def test_card_prompt_and_sampling():
    assert SYSTEM_PROMPT == TASK_SYSTEM_PROMPT
    assert (DEFAULTS.temperature, DEFAULTS.top_p, DEFAULTS.max_tokens) == (0.8, 0.95, 1024)


def test_a_card_conforming_answer_passes_every_rule():
    parsed = parse(GOOD)
    assert parsed.option == 1 and parsed.format_valid
    assert [v.name for v in parsed.verdicts] == [rule.__name__ for rule in FORMAT_RULES]


@pytest.mark.parametrize(
    ("text", "option", "failing"),
    [
        ("The answer is 2.", None, {"structure", "output_only", "full_sentences", "explicit_steps"}),
        (completion(output="Option 3 is right"), None, {"output_only"}),  # rule 7: only the number
        (completion(output="7"), None, {"output_only"}),
        (completion(output="3"), 2, set()),
        (completion(monitoring="Mercury is the closest planet to the Sun of the four options here."), 1, None),
        (completion(planning="analyze the problem"), 1, None),
    ],
)
def test_eval_scores_with_the_tasks_validators(text, option, failing):
    parsed = parse(text)
    assert parsed.option == option
    if failing is not None:
        assert failing <= failed(text)
        assert all(v.reason for v in parsed.verdicts)
    else:
        assert not parsed.format_valid  # a rule the light parser never checked now fails the row


def test_without_the_question_the_rules_that_need_it_are_left_out():
    names = {v.name for v in parse_answer(GOOD, 4, settings=SETTINGS).verdicts}
    assert "references_problem" not in names and "calculations" not in names and "output_only" in names
