"""Multiple choice in the structured-reasoning format of the Qwen2.5 GRPO card: prompt builder + answer parser.

This module is the whole interface `harness eval mmlu --mode generative --task structured` reads:

    SYSTEM_PROMPT                           the system turn
    DEFAULTS                                the card's sampling: temperature 0.8, top_p 0.95, 1024 tokens
    user_prompt(question, choices) -> str   the user turn: the card's instruction, the question, numbered options
    parse_answer(text, n_choices)           -> ParsedAnswer: the option number from `<output>`, format verdicts

The `structured` task family itself (every card rule as a validator, synthesis) is issue #4, being built in
`tasks/structured.py`. When it lands, these names should delegate to it (its system prompt, user prompt and
validators); the eval stage only ever calls them, so nothing else changes.

The card (alibidaran/Qwen_COG_Thinker_Merged, Apache-2.0) could only be read in part on a machine without
a hub; SYSTEM_PROMPT is our reconstruction: the card's response skeleton and the rules it describes (three
sections in order, their minimum lengths, explicit steps, no generic filler, only the answer in `<output>`).
Pass the card's exact text with `--system-prompt @card_prompt.txt`; the prompt hash in the artifact's
provenance records which one produced each run.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from harness.backends.base import SamplingParams
from harness.records import Verdict

NAME = "structured"
VERSION = "1"

SYSTEM_PROMPT = """You are an AI assistant that always reasons in a fixed structure before answering.
Your response must follow exactly this format:
<think>
<planning>
...
</planning>
<monitoring>
...
</monitoring>
<evaluation>
...
</evaluation>
</think>
<output>
...
</output>
Rules:
1. <think> holds exactly three sections, in this order: <planning>, <monitoring>, <evaluation>.
2. Write every section as detailed reasoning in full sentences.
3. Length: <planning> at least 40 tokens, <monitoring> at least 80 tokens, <evaluation> at least 40 tokens.
4. <monitoring> shows the explicit steps: the numbers, equations or logical connections used.
5. Use the specific values and facts of the problem; no generic filler phrases, no empty sections, no placeholder bullets.
6. <evaluation> checks the result before it is given.
7. <output> holds only the final answer, nothing else."""

USER_INSTRUCTION = (
    "Examine the following question and select the right answer from given options. "
    "The output must be only the number of the option."
)
DEFAULTS = SamplingParams(temperature=0.8, top_p=0.95, max_tokens=1024)

THINK = re.compile(
    r"^\s*<think>\s*<planning>(?P<planning>.*?)</planning>\s*<monitoring>(?P<monitoring>.*?)</monitoring>"
    r"\s*<evaluation>(?P<evaluation>.*?)</evaluation>\s*</think>\s*<output>",
    re.DOTALL,
)
OUTPUT = re.compile(r"<output>(?P<body>.*?)(?P<close></output>|$)", re.DOTALL)
NUMBER = re.compile(r"\d+")


def user_prompt(question: str, choices: list[str] | tuple[str, ...]) -> str:
    """Options are numbered from 1, as the card's "number of the option" reads."""
    options = "\n".join(f"{number}. {choice}" for number, choice in enumerate(choices, start=1))
    return f"{USER_INSTRUCTION}\n\nQuestion: {question.strip()}\n\nOptions:\n{options}"


@dataclass(frozen=True)
class ParsedAnswer:
    option: int | None  # 0-based index of the chosen option; None when no valid option number was found
    verdicts: list[Verdict]

    @property
    def format_valid(self) -> bool:
        return all(v.passed for v in self.verdicts)


def parse_answer(text: str, n_choices: int) -> ParsedAnswer:
    """The option number is the first number in the last `<output>` block (an unclosed block runs to the end).

    Never raises: malformed output is a failed verdict with a reason, and no option.
    """
    blocks = list(OUTPUT.finditer(text))
    verdicts = [_think_verdict(text)]
    if not blocks:
        verdicts.append(Verdict("output_tag", False, "no <output> block"))
        verdicts.append(Verdict("output_is_option", False, "no <output> block"))
        return ParsedAnswer(None, verdicts)
    last = blocks[-1]
    body = last["body"].strip()
    closed = bool(last["close"])
    verdicts.append(Verdict("output_tag", closed, "ok" if closed else "<output> is not closed by </output>"))
    number = NUMBER.search(body)
    option = int(number.group()) - 1 if number and 1 <= int(number.group()) <= n_choices else None
    if option is None:
        reason = f"no option number 1-{n_choices} in <output>: {body[:60]!r}"
    elif body != number.group():
        reason = f"<output> holds more than the option number: {body[:60]!r}"
    else:
        reason = "ok"
    verdicts.append(Verdict("output_is_option", reason == "ok", reason))
    return ParsedAnswer(option, verdicts)


def _think_verdict(text: str) -> Verdict:
    match = THINK.match(text)
    if match is None:
        return Verdict(
            "think_sections",
            False,
            "expected <think> with <planning>, <monitoring>, <evaluation> in order, then <output>",
        )
    empty = [name for name in ("planning", "monitoring", "evaluation") if not match[name].strip()]
    if empty:
        return Verdict("think_sections", False, f"empty section(s): {', '.join(empty)}")
    return Verdict("think_sections", True, "ok")
