"""The generative eval's prompt builder and answer parser (structured-reasoning format)."""

from __future__ import annotations

import pytest

from tasks.structured_mc import DEFAULTS, SYSTEM_PROMPT, parse_answer, user_prompt

GOOD = (
    "<think>\n<planning>\nRead the question.\n</planning>\n<monitoring>\n2 + 2 = 4.\n</monitoring>\n"
    "<evaluation>\n4 is option 2.\n</evaluation>\n</think>\n<output>\n2\n</output>"
)


def verdicts(text: str) -> dict[str, bool]:
    return {v.name: v.passed for v in parse_answer(text, 4).verdicts}


def test_user_prompt_numbers_the_options_from_one():
    prompt = user_prompt("  What is 2+2? ", ["3", "4", "5", "6"])
    assert prompt.startswith("Examine the following question and select the right answer from given options.")
    assert "Question: What is 2+2?\n" in prompt
    assert prompt.endswith("Options:\n1. 3\n2. 4\n3. 5\n4. 6")


def test_card_prompt_and_sampling():
    assert "<planning>" in SYSTEM_PROMPT and "<output>" in SYSTEM_PROMPT
    assert (DEFAULTS.temperature, DEFAULTS.top_p, DEFAULTS.max_tokens) == (0.8, 0.95, 1024)


def test_well_formed_answer():
    parsed = parse_answer(GOOD, 4)
    assert parsed.option == 1 and parsed.format_valid
    assert [v.name for v in parsed.verdicts] == ["think_sections", "output_tag", "output_is_option"]


@pytest.mark.parametrize(
    ("text", "option", "failed"),
    [
        ("The answer is 2.", None, {"think_sections", "output_tag", "output_is_option"}),
        ("<output>3</output>", 2, {"think_sections"}),
        ("<output>Option 3 is right</output>", 2, {"think_sections", "output_is_option"}),
        ("<output>7</output>", None, {"think_sections", "output_is_option"}),
        ("<output>0</output>", None, {"think_sections", "output_is_option"}),
        (GOOD.replace("\n</output>", ""), 1, {"output_tag"}),  # truncated: unclosed, still parsed
        (GOOD.replace("Read the question.", " "), 1, {"think_sections"}),  # an empty section
        (GOOD.replace("<monitoring>", "<monitor>"), 1, {"think_sections"}),
        (GOOD + "\n<output>4</output>", 3, set()),  # the last <output> counts
    ],
)
def test_malformed_answers_are_verdicts_not_errors(text, option, failed):
    parsed = parse_answer(text, 4)
    assert parsed.option == option
    assert {name for name, passed in verdicts(text).items() if not passed} == failed
    assert all(v.reason for v in parsed.verdicts)
