"""thought-variants: 62 forced prefixes, a greedy thought then a greedy answer; pure render/parse logic."""

from __future__ import annotations

import pytest

from harness.engines.base import Completion, Request
from tasks import get_task
from tasks.thought_variants import ALL_VARIANTS, ThoughtVariantsTask

Q = {"question": "What is 6 * 7?"}


def done(text: str, finish: str = "stop", tokens: int = 5) -> Completion:
    return Completion(text=text, finish_reason=finish, prompt_tokens=20, completion_tokens=tokens)


def test_the_card_variants_are_62_distinct_characters():
    assert len(ALL_VARIANTS) == 62 and len(set(ALL_VARIANTS)) == 62
    assert ThoughtVariantsTask().variants(Q) == list(ALL_VARIANTS)


def test_defaults_are_greedy_with_the_card_budgets():
    task = ThoughtVariantsTask()
    assert task.defaults.temperature == 0 and task.defaults.max_tokens == 128
    assert task.defaults.stop == ("</thought>",)
    answer = task.follow_up_params(task.defaults)
    assert answer.temperature == 0 and answer.max_tokens == 2048 and answer.n == 1 and answer.stop == ()


def test_first_step_forces_the_character_and_second_step_closes_the_thought():
    task = ThoughtVariantsTask(variants="xY")
    first = task.render(Q, "Y")
    assert first == Request(messages=({"role": "user", "content": Q["question"]},), assistant_prefix="<thought>Y")
    second = task.follow_up(Q, "Y", done("es, six sevens"))
    assert second.messages == first.messages
    assert second.assistant_prefix == "<thought>Yes, six sevens</thought>"


def test_parse_records_thought_and_answer():
    task = ThoughtVariantsTask()
    fields, verdicts = task.parse(Q, done(" 42", tokens=3), variant="a", first=done("dd them", "length", 8))
    assert all(v.passed for v in verdicts)
    assert fields["variant"] == "a" and fields["thought"] == "add them" and fields["answer"] == "42"
    assert fields["thought_tokens"] == 8 and fields["thought_finish_reason"] == "length"
    assert fields["messages"][-1] == {"role": "assistant", "content": "<thought>add them</thought> 42"}


@pytest.mark.parametrize(
    ("answer", "failed"),
    [(done("   "), "answer_nonempty"), (done("42 and more", "length"), "answer_finished")],
)
def test_parse_rejects_empty_or_unfinished_answers(answer, failed):
    fields, verdicts = ThoughtVariantsTask().parse(Q, answer, variant="a", first=done("x"))
    assert [v.name for v in verdicts if not v.passed] == [failed]
    assert fields["messages"] is None


def test_options_and_bad_variants():
    task = get_task("thought-variants", variants="ab", max_thought_tokens=4, max_answer_tokens=9)
    assert task.variants(Q) == ["a", "b"] and task.defaults.max_tokens == 4 and task.max_answer_tokens == 9
    with pytest.raises(ValueError, match="distinct"):
        ThoughtVariantsTask(variants="aa")
    with pytest.raises(ValueError, match="does not take"):
        get_task("thought-variants", system_prompt="x")


def test_check_rejects_missing_or_empty_questions():
    task = ThoughtVariantsTask()
    assert not task.check({"question": " "})[0].passed
    assert task.check({"question": None})[0].reason == "missing from this row"
    assert task.check(Q)[0].passed


# -- the card's wording (tests/fixtures/cards/thought-ranked-llama-3.2-3b.training.txt) and its two readings -----
def test_the_card_prints_the_closed_tag_and_its_budgets():
    from pathlib import Path

    card = (Path(__file__).parents[1] / "fixtures" / "cards" / "thought-ranked-llama-3.2-3b.training.txt").read_text()
    assert "`<thought>{char}</thought>` for each character in `[a-zA-Z0-9]`" in card
    assert "up to 128 tokens" in card and "up to 2048 tokens" in card
    task = ThoughtVariantsTask(prefix="closed")
    assert (task.defaults.max_tokens, task.max_answer_tokens, task.defaults.temperature) == (128, 2048, 0)


def test_closed_prefix_forces_the_whole_tag_then_the_models_own_thought():
    task = get_task("thought-variants", prefix="closed")
    first = task.render(Q, "k")
    assert first.assistant_prefix == "<thought>k</thought>" and task.defaults.stop == ()
    chain = " Six sevens: 6 * 7 = 42."
    second = task.follow_up(Q, "k", done(chain))
    assert second.assistant_prefix == "<thought>k</thought>" + chain
    fields, verdicts = task.parse(Q, done(" The answer is 42."), "k", first=done(chain))
    assert all(v.passed for v in verdicts)
    assert fields["variant"] == "k" and fields["thought"] == chain and fields["answer"] == "The answer is 42."
    assert fields["messages"][-1]["content"] == f"<thought>k</thought>{chain} The answer is 42."
    assert task.template_hash() != ThoughtVariantsTask().template_hash()


def test_open_prefix_stays_the_default_and_a_bad_reading_is_refused():
    assert ThoughtVariantsTask().render(Q, "k").assistant_prefix == "<thought>k"
    with pytest.raises(ValueError, match="prefix must be one of open, closed"):
        ThoughtVariantsTask(prefix="half")
