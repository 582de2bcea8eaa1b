"""trainers/chat_templates/chatml.jinja rendered as transformers renders chat templates, no model loaded: a chat
without a system turn gets none (the default model's template adds SmolLM's), a chat's own system turn is kept,
and the `{% generation %}` spans are exactly the assistant turns."""

from __future__ import annotations

import pytest

from trainers.chat_template import has_generation_markers, load_chat_template

USER, ASSISTANT = {"role": "user", "content": "What is 2 + 3?"}, {"role": "assistant", "content": "It is 5."}
SYSTEM = {"role": "system", "content": "You add numbers."}


def render(messages: list[dict], **kwargs) -> tuple[str, list[tuple[int, int]]]:
    from transformers.utils.chat_template_utils import render_jinja_template

    rendered, spans = render_jinja_template(
        [messages], chat_template=load_chat_template("chatml"), return_assistant_tokens_mask=True, **kwargs
    )
    return rendered[0], spans[0]


@pytest.mark.parametrize("prompt", [False, True])
def test_chatml_adds_no_system_turn_to_a_chat_without_one(prompt):
    text, _ = render([USER, ASSISTANT] if not prompt else [USER], add_generation_prompt=prompt)
    assert "SmolLM" not in text and "<|im_start|>system" not in text
    if prompt:
        assert text == "<|im_start|>user\nWhat is 2 + 3?<|im_end|>\n<|im_start|>assistant\n"
    else:
        assert text == "<|im_start|>user\nWhat is 2 + 3?<|im_end|>\n<|im_start|>assistant\nIt is 5.<|im_end|>\n"


def test_chatml_keeps_a_chats_own_system_turn():
    text, _ = render([SYSTEM, USER, ASSISTANT])
    assert text.startswith("<|im_start|>system\nYou add numbers.<|im_end|>\n<|im_start|>user\n")
    assert text.count("<|im_start|>system") == 1 and "SmolLM" not in text


def test_chatml_marks_exactly_the_assistant_turns_for_the_loss():
    template = load_chat_template("chatml")
    assert has_generation_markers(template)
    text, spans = render([SYSTEM, USER, ASSISTANT, USER, ASSISTANT])
    assert [text[a:b] for a, b in spans] == ["It is 5.<|im_end|>", "It is 5.<|im_end|>"]
