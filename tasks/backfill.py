"""`backfill`: a reasoning trace for a fixed (instruction, solution) pair (Qwen3-4B-Reasoning-Backfill card).

The model sees the instruction and the solution and writes the route between them inside
`<|thinking_start|> ... <|thinking_end|>`; the solution is the destination and is never changed. The
assistant turn is primed with `<|thinking_start|>\\n`, so the completion starts inside the trace.
"""

from __future__ import annotations

import re
from typing import Any

import pyarrow as pa

from harness.backends.base import Completion, Request, SamplingParams
from harness.records import MESSAGES, Verdict
from tasks.base import Task, check_text

# The card's prompt opens with "Your role as an assistant"; the rest of its text could not be retrieved
# on a machine without a hub (see README, "backfill prompt"). This is our reconstruction of it: it asks for
# exactly what the card describes. Replace it with the card's text via `--system-prompt FILE`.
SYSTEM_PROMPT = (
    "Your role as an assistant is to reconstruct the reasoning that leads from a user's INSTRUCTION to a "
    "given SOLUTION. The instruction is wrapped in <|instruction_start|> and <|instruction_end|>, the "
    "solution in <|solution_start|> and <|solution_end|>. Think through the problem step by step, the way "
    "someone solving it would, and arrive at exactly the given solution: the solution is fixed and must not "
    "be changed, corrected or rewritten. Write the reasoning between <|thinking_start|> and <|thinking_end|>."
)
USER_TEMPLATE = (
    "<|instruction_start|>\n{instruction}\n<|instruction_end|>\n\n<|solution_start|>\n{solution}\n<|solution_end|>"
)
THINKING_START = "<|thinking_start|>"
PRIMER = THINKING_START + "\n"
# The card spells some markers without their closing pipe; accept both spellings when parsing.
THINKING_END = re.compile(r"<\|thinking_end\|?>")
SOLUTION_BLOCK = re.compile(r"<\|solution_start\|?>(?P<body>.*?)(?:<\|solution_end\|?>|$)", re.DOTALL)
MARKERS = re.compile(r"<\|(?:instruction|solution|thinking)_(?:start|end)\|?>")


class BackfillTask(Task):
    name = "backfill"
    version = "1"
    columns = {"instruction": "instruction", "solution": "solution"}
    # Card defaults: temperature 0.7, top_p 0.9, min_p 0.05, stop at the end of the ChatML turn.
    defaults = SamplingParams(temperature=0.7, top_p=0.9, min_p=0.05, max_tokens=1024, stop=("<|im_end|>",))
    fields = [
        pa.field("instruction", pa.string()),
        pa.field("solution", pa.string()),
        pa.field("trace", pa.string()),
        pa.field("messages", MESSAGES),  # system, user, assistant = trace + solution; null unless valid
    ]

    def __init__(self, system_prompt: str = SYSTEM_PROMPT) -> None:
        self.system_prompt = system_prompt

    def template(self) -> str:
        return "\n\0".join([self.system_prompt, USER_TEMPLATE, PRIMER])

    def check(self, values: dict[str, Any]) -> list[Verdict]:
        verdicts = [check_text(values, column) for column in ("instruction", "solution")]
        for i, verdict in enumerate(verdicts):
            # A marker inside the text would break the prompt's structure and the parse.
            if verdict.passed and (marker := MARKERS.search(values[verdict.name.removeprefix("input_")])):
                verdicts[i] = Verdict(verdict.name, False, f"contains the prompt marker {marker.group()!r}")
        return verdicts

    def render(self, values: dict[str, Any], variant: str = "") -> Request:
        user = USER_TEMPLATE.format(instruction=values["instruction"], solution=values["solution"])
        messages = ({"role": "system", "content": self.system_prompt}, {"role": "user", "content": user})
        return Request(messages=messages, assistant_prefix=PRIMER)

    def parse(
        self, values: dict[str, Any], completion: Completion, variant: str = "", first: Completion | None = None
    ) -> tuple[dict[str, Any], list[Verdict]]:
        fields: dict[str, Any] = {
            "instruction": values["instruction"],
            "solution": values["solution"],
            "trace": None,
            "messages": None,
        }
        text = completion.text
        end = THINKING_END.search(text)
        if end is None:
            why = "the token budget ran out" if completion.finish_reason == "length" else "the model ended its turn"
            return fields, [Verdict("markers", False, f"no <|thinking_end|> after the trace ({why})")]
        if THINKING_START in text[: end.start()]:
            return fields, [Verdict("markers", False, "a second <|thinking_start|> before <|thinking_end|>")]
        verdicts = [Verdict("markers", True, "trace opened and closed in order")]
        trace = text[: end.start()].strip()
        verdicts.append(Verdict("trace_nonempty", bool(trace), "ok" if trace else "nothing between the markers"))
        verdicts.append(_solution_verdict(values["solution"], text[end.end() :]))
        if all(v.passed for v in verdicts):
            fields["trace"] = trace
            fields["messages"] = self._messages(values, trace)
        else:
            fields["trace"] = trace or None
        return fields, verdicts

    def _messages(self, values: dict[str, Any], trace: str) -> list[dict[str, str]]:
        request = self.render(values)
        assistant = f"{THINKING_START}\n{trace}\n<|thinking_end|>\n\n{values['solution']}"
        return [*map(dict, request.messages), {"role": "assistant", "content": assistant}]


def _solution_verdict(solution: str, tail: str) -> Verdict:
    """After the trace the model may repeat the solution; if it does, it must be the same solution."""
    if not tail.strip():
        return Verdict("solution_preserved", True, "not repeated after the trace; the given solution is kept")
    block = SOLUTION_BLOCK.search(tail)
    repeated = block.group("body") if block else tail
    if block and (outside := _normalize(tail[: block.start()] + " " + tail[block.end() :])):
        return Verdict("solution_preserved", False, f"text besides the solution after the trace: {_shorten(outside)!r}")
    if _normalize(repeated) == _normalize(solution):
        return Verdict("solution_preserved", True, "repeated unchanged after the trace")
    return Verdict(
        "solution_preserved",
        False,
        f"the model rewrote the solution after the trace: {_shorten(_normalize(repeated))!r}",
    )


def _shorten(text: str) -> str:
    return text if len(text) <= 80 else text[:77] + "..."


def _normalize(text: str) -> str:
    return " ".join(text.split())
