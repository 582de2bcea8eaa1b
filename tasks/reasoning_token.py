"""`reasoning-token`: a dedicated `<|reasoning|>` turn between user and assistant (Qwen2.5-1.5B-O1 card).

The conversation is system -> user -> reasoning -> assistant, the reasoning turn opened by
`<|im_start|><|reasoning|>\\n`. Generation has two stages, as the card's loop: first the reasoning, then the
assistant turn with the reasoning in context. `REASONING_CHAT_TEMPLATE` renders that conversation for the
tokenizer too (`tokenizer.chat_template = REASONING_CHAT_TEMPLATE`), so the same text is used for training.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pyarrow as pa
from jinja2.sandbox import ImmutableSandboxedEnvironment

from harness.artifacts.schemas import MESSAGES, Verdict
from harness.engines.base import Completion, Request, SamplingParams
from tasks.base import Task, check_text

REASONING_TOKEN = "<|reasoning|>"
CARD_MAX_NEW_TOKENS = 3000  # the card's `max_new_tokens`, for the reasoning and the answer alike
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
    first_columns = ("reasoning", "reasoning_tokens", "reasoning_finish_reason")
    fields = [
        pa.field("question", pa.string()),
        pa.field("reasoning", pa.string()),
        pa.field("reasoning_tokens", pa.int32()),
        pa.field("reasoning_finish_reason", pa.string()),
        pa.field("answer", pa.string()),
        pa.field("messages", MESSAGES),  # system, user, reasoning, assistant; null unless valid
    ]

    # The card calls `model.generate(input_ids, max_new_tokens=3000)` for both turns: the model's own
    # generation_config.json decides the sampling (harness.engines.generation_config, laid over these defaults).
    sampling_from_model = True

    def __init__(
        self, system_prompt: str = SYSTEM_PROMPT, max_answer_tokens: int = CARD_MAX_NEW_TOKENS, history: bool = False
    ) -> None:
        """`history`: the input also has a `history` column, the conversation so far as the card's loop keeps it
        (system, then user, `<|reasoning|>` and assistant turns), which the new question continues."""
        self.system_prompt = system_prompt
        self.max_answer_tokens = max_answer_tokens
        self.history = bool(history)
        if self.history:
            self.columns = {"question": "question", "history": "history"}
            self.text_columns = ("question",)
        # Where the model has no generation config (a remote server's model): Qwen2.5-Instruct's sampling.
        # Both turns end at the ChatML end of turn.
        self.defaults = SamplingParams(
            temperature=0.7,
            top_p=0.8,
            top_k=20,
            repetition_penalty=1.05,
            max_tokens=CARD_MAX_NEW_TOKENS,
            stop=("<|im_end|>",),
        )

    def template(self) -> str:
        return "\n\0".join([self.system_prompt, REASONING_CHAT_TEMPLATE])

    def check(self, values: dict[str, Any]) -> list[Verdict]:
        verdicts = [check_text(values, "question")]
        return [*verdicts, _history_verdict(values.get("history"))] if self.history else verdicts

    def render(self, values: dict[str, Any], variant: str = "") -> Request:
        return Request(prompt=render_conversation(self._history(values), reasoning_prompt=True))

    def follow_up(self, values: dict[str, Any], variant: str, first: Completion) -> Request:
        history = [*self._history(values), {"role": "reasoning", "content": first.text}]
        return Request(prompt=render_conversation(history))

    def follow_up_params(self, params: SamplingParams) -> SamplingParams:
        return dataclasses.replace(params, max_tokens=self.max_answer_tokens, n=1)

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

    def first_from_output(self, row: dict[str, Any]) -> Completion:
        # `reasoning` is the first step's text stripped, and parse reads that text only stripped (its verdicts
        # and fields alike), so the stripped text gives the same; its tokens and finish reason have columns of
        # their own. A parse that read the whitespace around the reasoning would need the text kept whole.
        return Completion(
            row["reasoning"], row["reasoning_finish_reason"], 0, row["reasoning_tokens"], row.get("sample_idx") or 0
        )

    def _history(self, values: dict[str, Any]) -> list[dict[str, str]]:
        """The card's `history` before a generation: system, the earlier turns, then the new question."""
        earlier = [_turn(m) for m in values.get("history") or []] if self.history else []
        system = (
            [] if earlier and earlier[0]["role"] == "system" else [{"role": "system", "content": self.system_prompt}]
        )
        return [*system, *earlier, {"role": "user", "content": values["question"]}]


ROLES = ("system", "user", "reasoning", REASONING_TOKEN, "assistant")


def _turn(message: dict[str, Any]) -> dict[str, str]:
    """One earlier turn; the card's history names the reasoning role `<|reasoning|>`, ours `reasoning`."""
    role = "reasoning" if message["role"] == REASONING_TOKEN else message["role"]
    return {"role": role, "content": message["content"]}


def _history_verdict(history: Any) -> Verdict:
    if history is None:
        return Verdict("input_history", True, "no earlier turns")
    if not isinstance(history, list | tuple):
        return Verdict("input_history", False, f"expected a list of messages, got {type(history).__name__}")
    for i, message in enumerate(history):
        if not isinstance(message, dict) or message.get("role") not in ROLES:
            return Verdict("input_history", False, f"message {i}: role must be one of {', '.join(ROLES)}")
        if not isinstance(message.get("content"), str):
            return Verdict("input_history", False, f"message {i}: content must be text")
    return Verdict("input_history", True, f"{len(history)} earlier turns")


def _finished(name: str, completion: Completion, turn: str) -> Verdict:
    if completion.finish_reason == "stop":
        return Verdict(name, True, "ok")
    return Verdict(name, False, f"the {turn} turn hit its token budget ({completion.completion_tokens} tokens)")
