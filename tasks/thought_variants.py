"""`thought-variants`: 62 forced thought prefixes per question (Thought-Ranked Llama 3.2 3B card).

The card generates "multiple thought chains by prefixing different thought tokens: `<thought>{char}</thought>`
for each character in [a-zA-Z0-9]", each up to 128 tokens, then an answer up to 2048 tokens, all greedy. Two
readings of "prefixing", both here (task option `prefix`):

- `open` (the default): the character opens the thought. The assistant turn is forced to start with
  `<thought>c`; the thought is continued greedily up to 128 tokens and closed with `</thought>` (by the model,
  or by us at the budget); then the answer.
- `closed`: the whole tag `<thought>c</thought>` is the forced prefix, a seed token; the model then writes its
  own thought chain (up to 128 tokens, as it likes) and, after it, the answer.

Either way the answer is generated greedily up to 2048 tokens. All variants of a batch go to the engine in one call, so their shared prompt prefix can be reused
(prefix caching on vLLM). A judge later ranks the answers blind to the thoughts.
"""

from __future__ import annotations

import string
from typing import Any

import pyarrow as pa

from harness.artifacts.schemas import MESSAGES, Verdict
from harness.engines.base import Completion, Request, SamplingParams
from tasks.base import Task, check_text

ALL_VARIANTS = string.ascii_lowercase + string.ascii_uppercase + string.digits  # the card's [a-zA-Z0-9]: 62
THOUGHT_OPEN, THOUGHT_CLOSE = "<thought>", "</thought>"
PREFIXES = ("open", "closed")


class ThoughtVariantsTask(Task):
    name = "thought-variants"
    version = "1"
    columns = {"question": "question"}
    two_step = True
    first_columns = ("variant", "thought", "thought_tokens", "thought_finish_reason")
    fields = [
        pa.field("question", pa.string()),
        pa.field("variant", pa.string()),  # the forced first character of the thought
        pa.field("thought", pa.string()),  # the whole thought, the forced character included
        pa.field("thought_tokens", pa.int32()),
        pa.field("thought_finish_reason", pa.string()),  # "length": closed by us at the thought budget
        pa.field("answer", pa.string()),
        pa.field("messages", MESSAGES),  # user, assistant = <thought>...</thought>answer; null unless valid
    ]

    def __init__(
        self,
        variants: str = ALL_VARIANTS,
        max_thought_tokens: int = 128,
        max_answer_tokens: int = 2048,
        prefix: str = "open",
    ):
        if not variants or len(set(variants)) != len(variants):
            raise ValueError(f"variants must be distinct characters, got {variants!r}")
        if prefix not in PREFIXES:
            raise ValueError(f"prefix must be one of {', '.join(PREFIXES)}, got {prefix!r}")
        self.chosen = variants
        self.max_answer_tokens = max_answer_tokens
        self.prefix = prefix
        # Greedy, as the card: the variety comes from the forced characters, not from sampling. An open thought
        # ends at its closing tag; after a closed prefix the model's own chain runs to its budget (or its turn's end).
        stop = (THOUGHT_CLOSE,) if prefix == "open" else ()
        self.defaults = SamplingParams(temperature=0, max_tokens=max_thought_tokens, stop=stop)

    def template(self) -> str:
        if self.prefix == "closed":
            return f"{THOUGHT_OPEN}{{c}}{THOUGHT_CLOSE}{{thought}}{{answer}}"
        return f"{THOUGHT_OPEN}{{c}}...{THOUGHT_CLOSE}{{answer}}"

    def _forced(self, variant: str) -> str:
        """The assistant turn's forced start for one character."""
        return f"{THOUGHT_OPEN}{variant}{THOUGHT_CLOSE}" if self.prefix == "closed" else f"{THOUGHT_OPEN}{variant}"

    def _before_answer(self, variant: str, first: Completion) -> str:
        """The assistant turn up to the answer: the forced start, the thought, the closing tag (open reading)."""
        if self.prefix == "closed":
            return self._forced(variant) + first.text
        return f"{THOUGHT_OPEN}{variant}{first.text}{THOUGHT_CLOSE}"

    def check(self, values: dict[str, Any]) -> list[Verdict]:
        return [check_text(values, "question")]

    def variants(self, values: dict[str, Any]) -> list[str]:
        return list(self.chosen)

    def render(self, values: dict[str, Any], variant: str = "") -> Request:
        return Request(messages=_user(values), assistant_prefix=self._forced(variant))

    def follow_up(self, values: dict[str, Any], variant: str, first: Completion) -> Request:
        return Request(messages=_user(values), assistant_prefix=self._before_answer(variant, first))

    def follow_up_params(self, params: SamplingParams) -> SamplingParams:
        return SamplingParams(
            temperature=0, max_tokens=self.max_answer_tokens, seed=params.seed, logprobs=params.logprobs
        )

    def parse(
        self, values: dict[str, Any], completion: Completion, variant: str = "", first: Completion | None = None
    ) -> tuple[dict[str, Any], list[Verdict]]:
        assert first is not None, "thought-variants is a two-step task"
        # The thought: with the forced character (open), or the model's own chain after the closed prefix.
        thought = first.text if self.prefix == "closed" else variant + first.text
        answer = completion.text.strip()
        verdicts = [
            Verdict("answer_nonempty", bool(answer), "ok" if answer else "the answer is empty"),
            Verdict(
                "answer_finished",
                completion.finish_reason == "stop",
                "ok"
                if completion.finish_reason == "stop"
                else f"the answer hit its {self.max_answer_tokens}-token budget",
            ),
        ]
        valid = all(v.passed for v in verdicts)
        assistant = self._before_answer(variant, first) + completion.text
        return {
            "question": values["question"],
            "variant": variant,
            "thought": thought,
            "thought_tokens": first.completion_tokens,
            "thought_finish_reason": first.finish_reason,
            "answer": answer,
            "messages": [*map(dict, _user(values)), {"role": "assistant", "content": assistant}] if valid else None,
        }, verdicts

    def first_from_output(self, row: dict[str, Any]) -> Completion:
        # `thought` keeps the first step's text whole: it is the text (closed), or the forced character and the
        # text (open); its tokens and finish reason have columns of their own. Its prompt tokens parse never reads.
        text = row["thought"] if self.prefix == "closed" else row["thought"][len(row["variant"]) :]
        return Completion(text, row["thought_finish_reason"], 0, row["thought_tokens"], row.get("sample_idx") or 0)


def _user(values: dict[str, Any]) -> tuple[dict[str, str], ...]:
    return ({"role": "user", "content": values["question"]},)
