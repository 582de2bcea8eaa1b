"""`reasoning-token`: a dedicated `<|reasoning|>` turn between user and assistant (Qwen2.5-1.5B-O1 card).

The conversation is system -> user -> reasoning -> assistant, the reasoning turn opened by
`<|im_start|><|reasoning|>\\n`. Generation has two stages, as the card's loop: first the reasoning, then the
assistant turn with the reasoning in context. `REASONING_CHAT_TEMPLATE` renders that conversation for the
tokenizer too (`tokenizer.chat_template = REASONING_CHAT_TEMPLATE`), so the same text is used for training.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa
from jinja2.sandbox import ImmutableSandboxedEnvironment

from harness.backends.base import Completion, Request, SamplingParams
from harness.records import MESSAGES, Verdict
from tasks.base import Task, check_text

REASONING_TOKEN = "<|reasoning|>"
SYSTEM_PROMPT = "You are a helpful assistant"  # the card's example conversation
# ChatML with one more role: a message of role "reasoning" renders as `<|im_start|><|reasoning|>\n...`.
# `add_reasoning_prompt` opens the reasoning turn, `add_generation_prompt` the assistant turn.
REASONING_CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% set role = '<|reasoning|>' if message['role'] == 'reasoning' else message['role'] %}"
    "{{ '<|im_start|>' + role + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{% endfor %}"
    "{% if add_reasoning_prompt is defined and add_reasoning_prompt %}{{ '<|im_start|><|reasoning|>\\n' }}"
    "{% elif add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)
# The same settings transformers uses for chat templates, so both render identical text.
_TEMPLATE = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True).from_string(REASONING_CHAT_TEMPLATE)


def render_conversation(messages: list[dict[str, str]], *, reasoning_prompt: bool = False) -> str:
    return _TEMPLATE.render(
        messages=messages, add_reasoning_prompt=reasoning_prompt, add_generation_prompt=not reasoning_prompt
    )


class ReasoningTokenTask(Task):
    name = "reasoning-token"
    version = "1"
    columns = {"question": "question"}
    two_step = True
    fields = [
        pa.field("question", pa.string()),
        pa.field("reasoning", pa.string()),
        pa.field("reasoning_tokens", pa.int32()),
        pa.field("reasoning_finish_reason", pa.string()),
        pa.field("answer", pa.string()),
        pa.field("messages", MESSAGES),  # system, user, reasoning, assistant; null unless valid
    ]

    def __init__(self, system_prompt: str = SYSTEM_PROMPT, max_answer_tokens: int = 1024) -> None:
        self.system_prompt = system_prompt
        self.max_answer_tokens = max_answer_tokens
        # The card calls generate() with the model's defaults and max_new_tokens=3000; these are Qwen2.5's
        # sampling defaults. Both turns end at the ChatML end of turn.
        self.defaults = SamplingParams(temperature=0.7, top_p=0.8, max_tokens=3000, stop=("<|im_end|>",))

    def template(self) -> str:
        return "\n\0".join([self.system_prompt, REASONING_CHAT_TEMPLATE])

    def check(self, values: dict[str, Any]) -> list[Verdict]:
        return [check_text(values, "question")]

    def render(self, values: dict[str, Any], variant: str = "") -> Request:
        return Request(prompt=render_conversation(self._history(values), reasoning_prompt=True))

    def follow_up(self, values: dict[str, Any], variant: str, first: Completion) -> Request:
        history = [*self._history(values), {"role": "reasoning", "content": first.text}]
        return Request(prompt=render_conversation(history))

    def follow_up_params(self, params: SamplingParams) -> SamplingParams:
        return SamplingParams(
            temperature=params.temperature,
            top_p=params.top_p,
            min_p=params.min_p,
            max_tokens=self.max_answer_tokens,
            stop=params.stop,
            seed=params.seed,
            logprobs=params.logprobs,
        )

    def parse(
        self, values: dict[str, Any], completion: Completion, variant: str = "", first: Completion | None = None
    ) -> tuple[dict[str, Any], list[Verdict]]:
        assert first is not None, "reasoning-token is a two-step task"
        reasoning, answer = first.text.strip(), completion.text.strip()
        verdicts = [
            Verdict("reasoning_nonempty", bool(reasoning), "ok" if reasoning else "the reasoning turn is empty"),
            _finished("reasoning_finished", first, "reasoning"),
            Verdict("answer_nonempty", bool(answer), "ok" if answer else "the assistant turn is empty"),
            _finished("answer_finished", completion, "answer"),
        ]
        valid = all(v.passed for v in verdicts)
        conversation = [
            *self._history(values),
            {"role": "reasoning", "content": reasoning},
            {"role": "assistant", "content": answer},
        ]
        return {
            "question": values["question"],
            "reasoning": reasoning,
            "reasoning_tokens": first.completion_tokens,
            "reasoning_finish_reason": first.finish_reason,
            "answer": answer,
            "messages": conversation if valid else None,
        }, verdicts

    def _history(self, values: dict[str, Any]) -> list[dict[str, str]]:
        return [{"role": "system", "content": self.system_prompt}, {"role": "user", "content": values["question"]}]


def _finished(name: str, completion: Completion, turn: str) -> Verdict:
    if completion.finish_reason == "stop":
        return Verdict(name, True, "ok")
    return Verdict(name, False, f"the {turn} turn hit its token budget ({completion.completion_tokens} tokens)")
