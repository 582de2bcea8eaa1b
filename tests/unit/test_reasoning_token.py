"""reasoning-token: the `<|reasoning|>` turn, two-stage prompts and the chat template that renders it."""

from __future__ import annotations

import re
from pathlib import Path

from harness.artifacts.schemas import Verdict
from harness.engines.base import Completion, SamplingParams
from tasks.reasoning_token import REASONING_CHAT_TEMPLATE, ReasoningTokenTask, render_conversation
from tasks.star import StarTask

Q = {"question": "Why is the sky blue?"}


def done(text: str, finish: str = "stop") -> Completion:
    return Completion(text=text, finish_reason=finish, prompt_tokens=10, completion_tokens=7)


def test_first_stage_opens_the_reasoning_turn():
    request = ReasoningTokenTask().render(Q)
    assert request.prompt == (
        "<|im_start|>system\nYou are a helpful assistant<|im_end|>\n"
        "<|im_start|>user\nWhy is the sky blue?<|im_end|>\n"
        "<|im_start|><|reasoning|>\n"
    )


def test_second_stage_has_the_reasoning_in_context_and_opens_the_assistant_turn():
    request = ReasoningTokenTask().follow_up(Q, "", done("Rayleigh scattering."))
    assert request.prompt.endswith("<|im_start|><|reasoning|>\nRayleigh scattering.<|im_end|>\n<|im_start|>assistant\n")


def test_parse_builds_the_four_turn_conversation():
    fields, verdicts = ReasoningTokenTask().parse(Q, done(" Because of scattering. "), first=done(" Light scatters. "))
    assert all(v.passed for v in verdicts)
    assert [m["role"] for m in fields["messages"]] == ["system", "user", "reasoning", "assistant"]
    assert fields["reasoning"] == "Light scatters." and fields["answer"] == "Because of scattering."
    assert fields["reasoning_tokens"] == 7 and fields["reasoning_finish_reason"] == "stop"


def test_parse_rejects_truncated_or_empty_turns():
    fields, verdicts = ReasoningTokenTask().parse(Q, done(""), first=done("went on and on", "length"))
    assert [v.name for v in verdicts if not v.passed] == ["reasoning_finished", "answer_nonempty"]
    assert fields["messages"] is None


def test_the_template_renders_what_the_tokenizer_renders():
    from tokenizers import Tokenizer, models
    from transformers import PreTrainedTokenizerFast

    tokenizer = PreTrainedTokenizerFast(tokenizer_object=Tokenizer(models.WordLevel({"x": 0}, unk_token="x")))
    conversation = [
        {"role": "system", "content": "S"},
        {"role": "user", "content": "U"},
        {"role": "reasoning", "content": "R"},
        {"role": "assistant", "content": "A"},
    ]
    ours = render_conversation(conversation[:3])
    theirs = tokenizer.apply_chat_template(
        conversation[:3], chat_template=REASONING_CHAT_TEMPLATE, tokenize=False, add_generation_prompt=True
    )
    assert ours == theirs
    opened = tokenizer.apply_chat_template(
        conversation[:2], chat_template=REASONING_CHAT_TEMPLATE, tokenize=False, add_reasoning_prompt=True
    )
    assert opened == render_conversation(conversation[:2], reasoning_prompt=True)


# -- the card (tests/fixtures/cards/qwen2.5-1.5b-o1-reasoning-token.usage.py.txt) -----------------------------
CARD_USAGE = (
    Path(__file__).parents[1] / "fixtures" / "cards" / "qwen2.5-1.5b-o1-reasoning-token.usage.py.txt"
).read_text(encoding="utf-8")


def card_template(history: list[dict[str, str]], reasoning: bool) -> str:
    """The card's `new_apply_chat_template`, its two f-strings taken from the card's own text."""
    turn = re.search(r'\[f"(.+?)" for i in history\]', CARD_USAGE).group(1)
    opener = re.findall(r'for i in history\]\) \+ "(.+?)"', CARD_USAGE)
    assert opener == ["<|im_start|><|reasoning|>\\n", "<|im_start|>assistant\\n"]
    body = "".join(turn.replace("{i['role']}", m["role"]).replace("{i['content']}", m["content"]) for m in history)
    return (body + opener[0 if reasoning else 1]).replace("\\n", "\n")


def test_both_stages_render_as_the_cards_template_with_its_history():
    """The card's loop: history = system, user; generate reasoning; append it as role `<|reasoning|>`; generate
    the answer; append it; the next question continues the same history."""
    task = ReasoningTokenTask(history=True)
    first = {"question": "Why is the sky blue?", "history": []}
    card_history = [
        {"role": "system", "content": "You are a helpful assistant"},
        {"role": "user", "content": first["question"]},
    ]
    assert task.render(first).prompt == card_template(card_history, reasoning=True)
    card_history.append({"role": "<|reasoning|>", "content": "Rayleigh scattering."})
    assert task.follow_up(first, "", done("Rayleigh scattering.")).prompt == card_template(
        card_history, reasoning=False
    )
    card_history.append({"role": "assistant", "content": "Blue light scatters most."})
    second = {"question": "And sunsets?", "history": card_history}
    assert task.check(second)[1] == Verdict("input_history", True, "4 earlier turns")
    card_history = [*card_history, {"role": "user", "content": "And sunsets?"}]
    assert task.render(second).prompt == card_template(card_history, reasoning=True)


def test_history_is_checked():
    task = ReasoningTokenTask(history=True)
    bad = task.check({"question": "q", "history": [{"role": "tool", "content": "x"}]})[1]
    assert not bad.passed and bad.reason.startswith("message 0: role must be one of")
    assert not task.check({"question": "q", "history": "text"})[1].passed


def test_the_cards_budget_and_sampling_from_the_models_generation_config():
    task = ReasoningTokenTask()
    assert "max_new_tokens=3000" in CARD_USAGE and task.defaults.max_tokens == 3000 == task.max_answer_tokens
    assert task.sampling_from_model and not StarTask.sampling_from_model
    second = task.follow_up_params(
        SamplingParams(temperature=0.7, top_k=20, repetition_penalty=1.05, n=4, max_tokens=9)
    )
    assert (second.top_k, second.repetition_penalty, second.n, second.max_tokens) == (20, 1.05, 1, 3000)
