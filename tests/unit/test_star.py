"""star: the Memphis-CoT prompt, rationale/answer parsing, correctness and unique (correct, incorrect) pairs."""

from __future__ import annotations

import pytest

from harness.engines.base import Completion
from judges.selection import unique_pairs
from judges.verifiers import answers_match, exact_answer
from tasks.star import StarTask

Q = {"question": "What is 2 + 2?", "answer": "4"}


def sample(text: str, finish: str = "stop", idx: int = 0) -> Completion:
    return Completion(text=text, finish_reason=finish, prompt_tokens=12, completion_tokens=9, sample_idx=idx)


def test_prompt_and_card_defaults():
    task = StarTask()
    assert task.render(Q).prompt == "### User:\nWhat is 2 + 2?\n\n### Rationale:\n"
    d = task.defaults
    assert (d.n, d.temperature, d.top_p, d.max_tokens) == (8, 0.5, 0.8, 512)


@pytest.mark.parametrize(
    ("text", "correct"),
    [
        ("Two and two make four.\n\n### Answer:\n4", True),
        ("Add them.\n### Answer: 5.", False),
        ("x\n### Answer:\n4.0", True),
    ],
)
def test_parse_checks_correctness(text, correct):
    fields, verdicts = StarTask().parse(Q, sample(text))
    assert verdicts[0].passed and fields["correct"] is correct
    assert fields["rationale"] and fields["answer"] and fields["reference"] == "4"


@pytest.mark.parametrize(
    ("text", "finish", "reason"),
    [
        ("I think it is 4", "length", "no ### Answer: section (the model ran out of tokens)"),
        ("### Answer:\n4", "stop", "empty rationale"),
        ("Because.\n### Answer:\n   ", "stop", "nothing after ### Answer:"),
    ],
)
def test_parse_rejects_bad_format_with_a_reason(text, finish, reason):
    fields, verdicts = StarTask().parse(Q, sample(text, finish))
    assert verdicts[0].reason == reason and not verdicts[0].passed
    assert fields["correct"] is None


def test_unique_pairs_use_each_response_once_and_discard_extras():
    correct = [("a", 1), ("a", 2), ("b", 3), ("c", 4)]
    incorrect = [("x", 5), ("y", 6)]
    assert unique_pairs(correct, incorrect) == [(1, 5), (3, 6)]
    assert unique_pairs([("a", 1)], []) == []


def test_pairs_rows_are_trl_preference_rows():
    task = StarTask()
    rows = []
    for i, (text, correct) in enumerate(
        [("r1\n### Answer: 4", True), ("r2\n### Answer: 5", False), ("r1\n### Answer: 4", True)]
    ):
        fields, verdicts = task.parse(Q, sample(text, idx=i))
        rows.append(
            {"record_id": "q1", "source_index": 0, "sample_idx": i, "completion": text, "valid": True, **fields}
        )
        assert fields["correct"] is correct
    rows.append(
        {
            "record_id": "q1",
            "source_index": 0,
            "sample_idx": 3,
            "completion": "bad",
            "valid": False,
            **task.parse(Q, sample("bad"))[0],
        }
    )
    pairs = task.pairs(rows)
    assert len(pairs) == 1
    assert pairs[0]["prompt"] == task.render(Q).prompt
    assert (pairs[0]["chosen"], pairs[0]["rejected"]) == ("r1\n### Answer: 4", "r2\n### Answer: 5")
    assert (pairs[0]["chosen_sample_idx"], pairs[0]["rejected_sample_idx"]) == (0, 1)


@pytest.mark.parametrize(
    ("predicted", "gold", "same"),
    [
        ("4", "4.0", True),
        ("1,234", "1234", True),
        ("1/2", "0.5", True),
        (" Paris. ", "paris", True),
        ("Sunday", "Monday", False),
        ("-3", "3", False),
        ("4 apples", "4", False),
    ],
)
def test_answers_match(predicted, gold, same):
    assert answers_match(predicted, gold) is same


def test_exact_answer_has_trl_reward_signature():
    completions = ["4", [{"role": "assistant", "content": "5"}], "x"]
    assert exact_answer(completions, answer=["4", "4", None], prompts=["p"] * 3) == [1.0, 0.0, None]
