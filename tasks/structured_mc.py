"""Multiple choice in the structured-reasoning format of the Qwen2.5 GRPO card: prompt builder + answer scorer.

This module is the whole interface `harness eval mmlu --mode generative --task structured` reads:

    SYSTEM_PROMPT                           the system turn: the card's, verbatim
    DEFAULTS                                the card's sampling: temperature 0.8, top_p 0.95, 1024 tokens
    user_prompt(question, choices) -> str   the user turn as the card's code builds it
    parse_answer(text, n_choices, question, choices, answer)
                                            -> ParsedAnswer: the option number from `<output>`, the verdicts
                                            of every card rule, and (given the gold `answer`) `correct`

The prompt and sampling are the `structured` task's (tasks/structured.py), and the verdicts come from the very
validators that filter in `judge` and reward in GRPO (judges/structured_format.py): one check serves all three.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from harness.artifacts.schemas import Verdict
from judges.structured_format import FORMAT_RULES, Settings, answer_option, answer_verdict, parse_trace, validate_trace
from tasks import structured

NAME = "structured"
VERSION = "2"

# The prompt and sampling are the structured task's own, so eval and synthesis ask the same question.
SYSTEM_PROMPT = structured.SYSTEM_PROMPT
DEFAULTS = structured.StructuredTask.defaults


def user_prompt(question: str, choices: list[str] | tuple[str, ...]) -> str:
    """The card's user turn; options are numbered from 1, as its "number of the option" reads."""
    return structured.user_prompt(question, choices)


@dataclass(frozen=True)
class ParsedAnswer:
    option: int | None  # 0-based index of the chosen option; None when no valid option number was found
    verdicts: list[Verdict]
    correct: bool | None = None  # the `correct` verdict (synth's, GRPO's structured_correct); None: no gold given

    @property
    def format_valid(self) -> bool:
        return all(v.passed for v in self.verdicts)


@lru_cache(maxsize=1)
def _settings() -> Settings:
    return Settings()  # the card's rules; section tokens counted with the default model's tokenizer


def parse_answer(
    text: str,
    n_choices: int,
    question: str | None = None,
    choices: list[str] | tuple[str, ...] | None = None,
    settings: Settings | None = None,
    answer: int | None = None,
) -> ParsedAnswer:
    """Every card rule's verdict on one completion, the option `<output>` names (only when it holds just an
    option number within 1..n_choices, rule 7: `answer_option`), and with the gold `answer` (a 0-based index)
    the `correct` verdict. Never raises: malformed output is failed verdicts, no option."""
    trace = parse_trace(text)
    row = {"question": question, "choices": list(choices) if choices is not None else [""] * n_choices}
    verdicts = validate_trace(trace, row, settings or _settings(), FORMAT_RULES)
    option = answer_option(trace.output, row["choices"])
    verdict = None if answer is None else answer_verdict(trace.output, answer, row["choices"])
    return ParsedAnswer(None if option is None else option - 1, verdicts, None if verdict is None else verdict.passed)
