"""Multiple choice in the structured-reasoning format of the Qwen2.5 GRPO card: prompt builder + answer parser.

This module is the whole interface `harness eval mmlu --mode generative --task structured` reads:

    SYSTEM_PROMPT                           the system turn
    DEFAULTS                                the card's sampling: temperature 0.8, top_p 0.95, 1024 tokens
    user_prompt(question, choices) -> str   the user turn: the card's instruction, the question, numbered options
    parse_answer(text, n_choices)           -> ParsedAnswer: the option number from `<output>`, format verdicts

The system prompt, user prompt and sampling come from the `structured` task (tasks/structured.py), whose
system prompt is the card's verbatim text completed by our reconstruction of its missing rules. The answer
parser here checks only what scoring needs (the sections, the `<output>` block, the option number); the
task's validators check every card rule.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from harness.records import Verdict
from judges.multiple_choice import parse_option
from tasks.structured import USER_INSTRUCTION, USER_TEMPLATE, StructuredTask, build_system_prompt, render_options

NAME = "structured"
VERSION = "1"

# The prompt and sampling are the structured task's own, so eval and synthesis ask the same question.
SYSTEM_PROMPT = build_system_prompt()
DEFAULTS = StructuredTask.defaults


THINK = re.compile(
    r"^\s*<think>\s*<planning>(?P<planning>.*?)</planning>\s*<monitoring>(?P<monitoring>.*?)</monitoring>"
    r"\s*<evaluation>(?P<evaluation>.*?)</evaluation>\s*</think>\s*<output>",
    re.DOTALL,
)
OUTPUT = re.compile(r"<output>(?P<body>.*?)(?P<close></output>|$)", re.DOTALL)


def user_prompt(question: str, choices: list[str] | tuple[str, ...]) -> str:
    """Options are numbered from 1, as the card's "number of the option" reads."""
    return USER_TEMPLATE.format(
        instruction=USER_INSTRUCTION, question=question.strip(), options=render_options(list(choices))
    )


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
    number = parse_option(body)  # the multiple-choice verifier's reading: lenient, never a guess
    option = number - 1 if number is not None and 1 <= number <= n_choices else None
    if option is None:
        reason = f"no option number 1-{n_choices} in <output>: {body[:60]!r}"
    elif body != str(number):
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
