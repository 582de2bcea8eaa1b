"""tasks/structured.py: the card's prompts, the input checks, and parsing into fields and verdicts."""

from __future__ import annotations

import pytest

from harness.artifacts.schemas import traces_schema, verdict_fields
from harness.engines.base import Completion, Request
from judges.structured_format import RULES
from tasks import get_task
from tasks.structured import SYSTEM_PROMPT, StructuredTask
from tests.unit.structured_samples import GOOD, MONITORING, PLANNING, ROW, completion, word_count


def task(**options) -> StructuredTask:
    return StructuredTask(tokenizer=word_count, **options)


def parse(text: str, finish_reason: str = "stop", values: dict | None = None):
    return task().parse(values or ROW, Completion(text, finish_reason, prompt_tokens=10, completion_tokens=5))


# -- prompts (compared with the card's own text in tests/unit/test_structured_card.py) -----------------------
def test_render_is_exact():
    request = task().render(ROW)
    assert isinstance(request, Request) and request.prompt is None and request.assistant_prefix == ""
    assert request.messages == (
        {"role": "system", "content": SYSTEM_PROMPT},
        {
            "role": "user",
            "content": "Examine the following question and select the right answer from given options.\n"
            "The output must be only the number of the option.\n"
            "Question: Which planet is closest to the Sun?\n"
            "Provided options: ['Venus', 'Mercury', 'Earth', 'Mars']\n",
        },
    )


def test_numbered_layout_is_an_option():
    user = task(user_layout="numbered").render(ROW).messages[1]["content"]
    assert user.endswith(
        "Question: Which planet is closest to the Sun?\nProvided options:\n1. Venus\n2. Mercury\n3. Earth\n4. Mars\n"
    )
    assert task(user_layout="numbered").template_hash() != task().template_hash()
    with pytest.raises(ValueError, match="user_layout must be one of card, numbered"):
        task(user_layout="letters")


def test_render_keeps_text_verbatim_including_braces_and_newlines():
    values = {"question": "Solve {x}: x² = 4\nwhat is x?", "choices": ["{2}", "±2 — both"], "answer": 1}
    user = task().render(values).messages[1]["content"]
    assert user.endswith("Question: Solve {x}: x² = 4\nwhat is x?\nProvided options: ['{2}', '±2 — both']\n")


def test_the_phrase_list_and_its_extras():
    assert task(forbidden_phrases="Basically\n\n  In summary \n").settings.forbidden_phrases == (
        "basically",
        "in summary",
    )
    assert task(forbidden_phrases=["x y"]).settings.forbidden_phrases == ("x y",)
    extended = task(extra_phrases=True).settings.forbidden_phrases
    assert extended[:4] == ("analyze the problem", "determine the strategy", "verify the solution", "check correctness")
    assert "let me think" in extended and len(extended) == 18
    assert task(extra_phrases=True).system_prompt == SYSTEM_PROMPT  # the prompt is the card's whatever is checked


def test_custom_system_prompt_and_template_hash():
    assert task(system_prompt="Card text.").render(ROW).messages[0] == {"role": "system", "content": "Card text."}
    hashes = {
        task().template_hash(),
        task(system_prompt="Card text.").template_hash(),
        task(forbidden_phrases=["a"]).template_hash(),
    }
    assert len(hashes) == 3


def test_recipe_defaults_match_the_card():
    d = StructuredTask.defaults
    assert (d.temperature, d.top_p, d.max_tokens, d.min_p, d.n) == (0.8, 0.95, 1024, 0.0, 1)


def test_registry_and_options():
    assert isinstance(get_task("structured", system_prompt="x", tokenizer="some/folder"), StructuredTask)
    with pytest.raises(ValueError, match=r"does not take the option\(s\) \['temperature'\]"):
        get_task("structured", temperature=1.0)


def test_schema_fits_the_harness():
    names = traces_schema(StructuredTask.fields).names
    assert {"question", "choices", "gold_option", "predicted_option", "correct", "messages"} <= set(names)


# -- input checks ------------------------------------------------------------------------------------------
def test_a_good_row_passes_its_checks():
    checks = task().check(ROW)
    assert [(v.name, v.passed, v.reason) for v in checks] == [
        ("input_question", True, "ok"),
        ("input_choices", True, "4 options"),
        ("input_answer", True, "option 2"),
    ]


@pytest.mark.parametrize(
    ("change", "name", "reason"),
    [
        ({"question": None}, "input_question", "missing from this row"),
        ({"question": "  "}, "input_question", "empty"),
        ({"question": 3}, "input_question", "expected text, got int"),
        ({"choices": None}, "input_choices", "missing from this row"),
        ({"choices": "A) x B) y"}, "input_choices", "expected a list of options, got str"),
        ({"choices": ["only"]}, "input_choices", "expected at least 2 options, got 1"),
        ({"choices": ["", "b"]}, "input_choices", "option 1 is empty or not text"),
        ({"choices": ["a", 2]}, "input_choices", "option 2 is empty or not text"),
        ({"answer": None}, "input_answer", "missing from this row"),
        ({"answer": 4}, "input_answer", "4 is not an option of 1..4"),
        ({"answer": "E"}, "input_answer", "'E' is not an option of 1..4"),
        ({"choices": None, "answer": "B"}, "input_answer", "'B' cannot be checked without a list of options"),
    ],
)
def test_bad_rows_are_rejected_with_a_reason(change, name, reason):
    checks = {v.name: v for v in task().check({**ROW, **change})}
    assert not checks[name].passed
    assert checks[name].reason.startswith(reason)


def test_rejected_rows_keep_the_inputs_they_can():
    fields = task().rejected({**ROW, "answer": 9})
    assert fields["question"] == ROW["question"] and fields["choices"] == ROW["choices"]
    assert fields["gold_option"] is None and fields["messages"] is None
    assert task().rejected({"question": 1, "choices": "x"})["choices"] is None


# -- parse -------------------------------------------------------------------------------------------------
def test_parse_a_good_completion():
    fields, verdicts = parse("  " + GOOD + "\n")
    assert [v.name for v in verdicts] == [rule.__name__ for rule in RULES]
    assert verdict_fields(verdicts)["valid"]
    assert fields["planning"] == PLANNING and fields["monitoring"] == MONITORING and fields["output"] == "2"
    assert (fields["gold_option"], fields["predicted_option"], fields["correct"]) == (2, 2, True)
    assert [m["role"] for m in fields["messages"]] == ["system", "user", "assistant"]
    assert fields["messages"][2]["content"] == GOOD
    assert fields["choices"] == ROW["choices"]


def test_parse_a_wrong_answer_keeps_the_fields_but_no_messages():
    fields, verdicts = parse(completion(output="3"))
    summary = verdict_fields(verdicts)
    assert not summary["valid"] and summary["rejection_reason"] == "correct: answered option 3, the answer is option 2"
    assert fields["predicted_option"] == 3 and fields["correct"] is False and fields["messages"] is None


def test_parse_notes_when_the_budget_ran_out():
    _, verdicts = parse(GOOD[:200], finish_reason="length")
    assert verdicts[0].reason == "missing </planning> (the token budget ran out)"
    _, verdicts = parse(GOOD[:200], finish_reason="stop")
    assert verdicts[0].reason == "missing </planning>"


@pytest.mark.parametrize("text", ["", "<output>", "<think>" * 1000, "\x00\ufffd", "<output>2</output>"])
def test_parse_never_raises(text):
    fields, verdicts = parse(text)
    assert not verdict_fields(verdicts)["valid"]
    assert fields["messages"] is None


def test_gold_given_as_a_letter_or_option_number():
    for answer in ("B", "2", 1):
        fields, _ = parse(GOOD, values={**ROW, "answer": answer})
        assert fields["gold_option"] == 2 and fields["correct"]
