"""reasoning-token: the `<|reasoning|>` turn, two-stage prompts and the chat template that renders it."""

from __future__ import annotations

from harness.backends.base import Completion
from tasks.reasoning_token import REASONING_CHAT_TEMPLATE, ReasoningTokenTask, render_conversation

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
