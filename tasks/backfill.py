"""`backfill`: a reasoning trace for a fixed (instruction, solution) pair (Qwen3-4B-Reasoning-Backfill card).

The model sees the instruction and the solution and writes the route between them inside
`<|thinking_start|> ... <|thinking_end|>`; the solution is the destination and is never changed. The
assistant turn is primed with `<|thinking_start|>\\n`, so the completion starts inside the trace.
"""

from __future__ import annotations

import re
from typing import Any

import pyarrow as pa

from harness.artifacts.schemas import MESSAGES, Verdict
from harness.engines.base import Completion, Request, SamplingParams
from tasks.base import Task, check_text

# The card's system prompt, VERBATIM from its "Example Prompt" (its '<|thinking_end>' spelling included; the
# parser accepts both spellings). tests/unit/test_backfill.py compares it with the card's text.
SYSTEM_PROMPT = (
    "Your role as an assistant involves thoroughly reconstructing a plausible reasoning process that "
    "leads from a user-provided INSTRUCTION to a user-provided SOLUTION. You must not alter the SOLUTION. "
    "Each step should include concrete decisions and validations, such as: interpreting the INSTRUCTION, "
    "extracting constraints, selecting an approach, justifying key choices, verifying that intermediate "
    "results remain consistent with the provided SOLUTION, refining any errors, and a final consistency "
    "check noting any residual ambiguities. Use domain-appropriate specifics and avoid filler. Do not "
    "introduce new facts that would change the SOLUTION. Now, given an INSTRUCTION and a SOLUTION, "
    "reconstruct the Thought and present the Solution per the above guidelines. Your reasoning should "
    "begin and end with '<|thinking_start|>' and '<|thinking_end>' respectively."
)
# The turns as the card's example lays them out: in ChatML each turn's content ends with a line break before
# <|im_end|> (`<|im_start|>system\n{prompt}\n<|im_end|>`), the user turn is the instruction block, a blank line,
# the solution block.
TURN_END = "\n"
USER_TEMPLATE = (
    "<|instruction_start|>\n{instruction}\n<|instruction_end|>\n\n<|solution_start|>\n{solution}\n<|solution_end|>\n"
)
THINKING_START = "<|thinking_start|>"
# The example ends `<|thinking_start|>` then a line break; its last, empty line is the `<pre>` block closing on
# its own line, not part of the prompt (README, "backfill prompt").
PRIMER = THINKING_START + "\n"
# The card asks for steps of "concrete decisions and validations": a trace that is only the solution restated, or
# fewer words than this that are not the solution's, is no reasoning (`trace_reasoning`; task option `min_trace_words`).
MIN_TRACE_WORDS = 12
WORDS = re.compile(r"[^\W_]+(?:[.,'’-][^\W_]+)*")
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

    def __init__(self, system_prompt: str = SYSTEM_PROMPT, min_trace_words: int = MIN_TRACE_WORDS) -> None:
        if not isinstance(min_trace_words, int) or min_trace_words < 0:
            raise ValueError(f"min_trace_words must be an integer >= 0, got {min_trace_words!r}")
        self.system_prompt = system_prompt
        self.min_trace_words = min_trace_words

    def template(self) -> str:
        return "\n\0".join([self.system_prompt, USER_TEMPLATE, PRIMER, f"min_trace_words={self.min_trace_words}"])

    def check(self, values: dict[str, Any]) -> list[Verdict]:
        verdicts = [check_text(values, column) for column in ("instruction", "solution")]
        for i, verdict in enumerate(verdicts):
            # A marker inside the text would break the prompt's structure and the parse.
            if verdict.passed and (marker := MARKERS.search(values[verdict.name.removeprefix("input_")])):
                verdicts[i] = Verdict(verdict.name, False, f"contains the prompt marker {marker.group()!r}")
        return verdicts

    def render(self, values: dict[str, Any], variant: str = "") -> Request:
        user = USER_TEMPLATE.format(instruction=values["instruction"], solution=values["solution"])
        system = self.system_prompt if self.system_prompt.endswith(TURN_END) else self.system_prompt + TURN_END
        messages = ({"role": "system", "content": system}, {"role": "user", "content": user})
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
        verdicts.append(_reasoning_verdict(trace, values["solution"], self.min_trace_words))
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


def _reasoning_verdict(trace: str, solution: str, min_words: int) -> Verdict:
    """The trace must reason, not restate: only its words that are not the solution's count."""
    solution_words = set(WORDS.findall(solution.lower()))
    trace_words = WORDS.findall(trace.lower())
    if not trace_words:
        return Verdict("trace_reasoning", False, "no words in the trace")
    beyond = [w for w in trace_words if w not in solution_words]
    if not beyond:
        return Verdict("trace_reasoning", False, "the trace only restates the solution")
    if len(beyond) < min_words:
        return Verdict(
            "trace_reasoning",
            False,
            f"{len(beyond)} word(s) of reasoning beyond the solution; at least {min_words} are needed",
        )
    return Verdict("trace_reasoning", True, f"{len(beyond)} words of reasoning beyond the solution")


def _shorten(text: str) -> str:
    return text if len(text) <= 80 else text[:77] + "..."


def _normalize(text: str) -> str:
    return " ".join(text.split())
