"""judges/structured_rewards.py: every validator is a TRL reward, `fn(completions, **columns) -> list[float | None]`."""

from __future__ import annotations

import inspect
import pickle

import pytest

from judges.structured_format import RULES, Settings, validate
from judges.structured_rewards import VerdictReward, completion_text, structured_rewards
from judges.token_count import TokenCounter
from tests.unit.structured_samples import GOOD, ROW, SETTINGS, completion

BATCH = [
    GOOD,
    completion(output="3"),  # wrong answer, good format
    completion(planning="...", monitoring="Mercury is the closest planet."),
    "Sure! The answer is 2.",
    "",
]
COLUMNS = {key: [value] * len(BATCH) for key, value in ROW.items()}
NAMES = [f"structured_{rule.__name__}" for rule in RULES]


def conversational(text: str) -> list[dict[str, str]]:
    return [{"role": "assistant", "content": text}]


def test_one_reward_per_rule_named_for_trl():
    rewards = structured_rewards(SETTINGS)
    assert [r.__name__ for r in rewards] == NAMES
    assert [r.__name__ for r in structured_rewards(SETTINGS, with_correctness=False)] == NAMES[:-1]
    for reward in rewards:
        params = inspect.signature(reward).parameters
        assert "completions" in params and any(p.kind is p.VAR_KEYWORD for p in params.values())


def test_rewards_on_string_completions():
    values = {r.__name__: r(BATCH, **COLUMNS) for r in structured_rewards(SETTINGS)}
    assert values["structured_structure"] == [1.0, 1.0, 1.0, 0.0, 0.0]
    assert values["structured_correct"] == [1.0, 0.0, 1.0, 0.0, 0.0]
    assert values["structured_no_placeholders"] == [1.0, 1.0, 0.0, 1.0, 1.0]
    for value in values.values():
        assert len(value) == len(BATCH) and all(isinstance(v, float) for v in value)


def test_rewards_are_the_task_verdicts():
    """One check serves filtering and RL: each reward is its verdict's `passed`, completion by completion."""
    rewards = structured_rewards(SETTINGS)
    for i, text in enumerate(BATCH):
        verdicts = {v.name: v.passed for v in validate(text, ROW, SETTINGS)}
        for reward in rewards:
            assert reward(BATCH, **COLUMNS)[i] == float(verdicts[reward.__name__.removeprefix("structured_")])


def test_conversational_completions_give_the_same_rewards():
    chats = [conversational(text) for text in BATCH]
    with_user = [[{"role": "user", "content": "hi"}, *chat] for chat in chats]
    for reward in structured_rewards(SETTINGS):
        expected = reward(BATCH, **COLUMNS)
        assert reward(chats, **COLUMNS) == expected
        assert reward(with_user, **COLUMNS) == expected


def test_trl_extra_arguments_are_ignored():
    reward = structured_rewards(SETTINGS)[0]
    extra = {"prompts": ["p"] * 5, "completion_ids": [[1]] * 5, "trainer_state": object(), "log_metric": print}
    assert reward(BATCH, **COLUMNS, **extra) == reward(BATCH, **COLUMNS)


def test_rules_without_their_columns_give_none():
    by_name = {r.__name__: r for r in structured_rewards(SETTINGS)}
    assert by_name["structured_correct"](BATCH) == [None] * 5
    assert by_name["structured_references_problem"](BATCH) == [None] * 5
    assert by_name["structured_structure"](BATCH) == [1.0, 1.0, 1.0, 0.0, 0.0]
    # A column of the wrong length is left out rather than misaligned.
    assert by_name["structured_correct"](BATCH, answer=[1]) == [None] * 5


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("plain", "plain"),
        ([{"role": "assistant", "content": "x"}], "x"),
        ([{"role": "assistant", "content": "a"}, {"role": "tool", "content": "t"}], "a"),
        ([{"content": "no role"}], "no role"),
        ({"role": "assistant", "content": "one message"}, "one message"),
        ([{"role": "user", "content": "u"}], ""),
        ([{"role": "assistant", "content": None}], ""),
        ([{"role": "assistant", "content": [{"type": "text", "text": "x"}]}], ""),
        (None, ""),
        (42, ""),
        ([], ""),
        (["not a message"], ""),
    ],
)
def test_completion_text_never_raises(value, text):
    assert completion_text(value) == text


def test_rewards_pickle_without_a_loaded_tokenizer():
    rewards = structured_rewards(Settings(tokens=TokenCounter("some/tokenizer/folder")))
    copies = pickle.loads(pickle.dumps(rewards))
    assert [r.__name__ for r in copies] == NAMES
    assert copies[0].settings.tokens == TokenCounter("some/tokenizer/folder")
    assert copies[0](BATCH, **COLUMNS) == [1.0, 1.0, 1.0, 0.0, 0.0]  # structure needs no tokenizer


def test_a_single_rule_as_a_reward():
    from judges.structured_format import output_only

    reward = VerdictReward(output_only, SETTINGS, prefix="")
    assert reward.__name__ == "output_only" and repr(reward) == "VerdictReward(output_only)"
    assert reward(["<output>(2)</output>", "<output>2 is right</output>"]) == [1.0, 0.0]
