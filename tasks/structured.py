"""`structured`: multiple-choice answers with structured reasoning (Qwen2.5 GRPO structured-reasoning card,
model `alibidaran/Qwen_COG_Thinker_Merged`).

The model answers a multiple-choice question in the card's format, `<think>` holding `<planning>`,
`<monitoring>` and `<evaluation>`, then `<output>` with only the option number. Every card rule is one
validator in `judges/structured_format.py`, each giving its own verdict; the same validators are the GRPO
rewards (`judges.structured_rewards.structured_rewards`).

Input: `question` (text), `choices` (a list of option texts), `answer` (the gold option: a 0-based index as an
integer, a letter "A".., or a 1-based option number as text "2"). Map other column names with
`--col question=...` etc.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pyarrow as pa

from harness.artifacts.schemas import MESSAGES, Verdict
from harness.engines.base import Completion, Request, SamplingParams
from judges.structured_format import (
    CARD_FORBIDDEN_PHRASES,
    EXTRA_FORBIDDEN_PHRASES,
    Settings,
    answer_option,
    normalize_answer,
    parse_trace,
    validate_trace,
)
from judges.token_count import DEFAULT_TOKENIZER, TokenCounter
from tasks.base import Task, check_text

# The card's SYSTEM_PROMPT, VERBATIM: the whole of its Python triple-quoted string, which opens and ends with a
# line break (kept). tests/unit/test_structured_task.py compares it with the card's text.
SYSTEM_PROMPT = """
You are an AI assistant that MUST produce structured reasoning.
Your response MUST EXACTLY follow this format:
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
FORMAT RULES:
1. The <think> block must contain exactly three sections in this order:
<planning>, <monitoring>, <evaluation>
2. Each section must contain detailed reasoning in full sentences.
3. Minimum reasoning length:
- <planning>: at least 40 tokens
- <monitoring>: at least 80 tokens
- <evaluation>: at least 40 tokens
4. The <monitoring> section MUST show explicit reasoning steps,
including calculations, derivations, or logical deductions.
5. Generic placeholder phrases are forbidden, including:
- "analyze the problem"
- "determine the strategy"
- "verify the solution"
- "check correctness"
6. The reasoning must explicitly reference values, equations,
or logical relationships from the problem.
7. The <output> section must contain ONLY the final answer.
INVALID RESPONSES:
Responses will be rejected if they contain:
- Empty sections
- Bullet point placeholders
- Generic reasoning
- Missing calculations when required
- Incorrect tag order
The format must always be strictly respected.
"""
# The user turn exactly as the card's `generate_response` builds it, `choices` formatted as its f-string formats
# them: a Python list, `['Venus', 'Mercury', ...]`. The answer is "the number of the option", counted from 1.
USER_TEMPLATE = (
    "Examine the following question and select the right answer from given options.\n"
    "The output must be only the number of the option.\n"
    "Question: {question}\n"
    "Provided options: {choices}\n"
)
# Ours, an option (`user_layout: numbered`): the same instruction, then the options one a line, numbered from 1.
NUMBERED_TEMPLATE = (
    "Examine the following question and select the right answer from given options.\n"
    "The output must be only the number of the option.\n"
    "Question: {question}\n"
    "Provided options:\n{choices}\n"
)
USER_LAYOUTS = ("card", "numbered")


def render_options(choices: list[str] | tuple[str, ...], layout: str = "card") -> str:
    """The options as the card's f-string writes a list (`str(list)`), or numbered one a line."""
    if layout == "numbered":
        return "\n".join(f"{number}. {choice}" for number, choice in enumerate(choices, start=1))
    return str(list(choices))


def user_prompt(question: str, choices: list[str] | tuple[str, ...], layout: str = "card") -> str:
    template = NUMBERED_TEMPLATE if layout == "numbered" else USER_TEMPLATE
    return template.format(question=question, choices=render_options(choices, layout))


def forbidden_phrase_list(phrases: list[str] | str | None, extra_phrases: bool) -> tuple[str, ...]:
    """Rule 5's phrases: the card's four (or the given list; text: one phrase a line), plus ours when asked."""
    if isinstance(phrases, str):
        phrases = [line.strip() for line in phrases.splitlines() if line.strip()]
    chosen = tuple(phrases) if phrases is not None else CARD_FORBIDDEN_PHRASES
    return chosen + (EXTRA_FORBIDDEN_PHRASES if extra_phrases else ())


class StructuredTask(Task):
    name = "structured"
    version = "2"  # 2: the answer is read only as rule 7 reads it (answer_option), by `correct` too
    columns = {"question": "question", "choices": "choices", "answer": "answer"}
    text_columns = ("question",)  # choices is a list, answer an integer or text
    defaults = SamplingParams(temperature=0.8, top_p=0.95, max_tokens=1024)  # the card's
    fields = [
        pa.field("question", pa.string()),
        pa.field("choices", pa.list_(pa.string())),
        pa.field("gold_option", pa.int32()),  # the answer as a 1-based option number
        pa.field("planning", pa.string()),
        pa.field("monitoring", pa.string()),
        pa.field("evaluation", pa.string()),
        pa.field("output", pa.string()),
        pa.field("predicted_option", pa.int32()),  # the option <output> holds (only a number: answer_option)
        pa.field("correct", pa.bool_()),
        pa.field("messages", MESSAGES),  # system, user, assistant = the completion; null unless valid
    ]

    def __init__(
        self,
        system_prompt: str | None = None,
        tokenizer: str | Callable[[str], int] = DEFAULT_TOKENIZER,
        forbidden_phrases: list[str] | str | None = None,
        extra_phrases: bool = False,
        user_layout: str = "card",
    ) -> None:
        """`tokenizer`: what counts section tokens: a model folder or hub id ("default": the default model's),
        loaded on first need, or a function text -> token count. `forbidden_phrases`: rule 5's list (default the
        card's four; text: one phrase a line, `@FILE`); `extra_phrases`: add our fourteen. `user_layout`: `card`
        (the card's user turn) or `numbered` (options one a line)."""
        if user_layout not in USER_LAYOUTS:
            raise ValueError(f"user_layout must be one of {', '.join(USER_LAYOUTS)}, got {user_layout!r}")
        phrases = forbidden_phrase_list(forbidden_phrases, extra_phrases)
        self.settings = Settings(forbidden_phrases=phrases, tokens=TokenCounter(tokenizer))
        self.system_prompt = system_prompt if system_prompt is not None else SYSTEM_PROMPT
        self.user_layout = user_layout

    def template(self) -> str:
        rules = f"layout={self.user_layout}\0phrases=" + "|".join(self.settings.forbidden_phrases)
        return "\n\0".join(
            [self.system_prompt, USER_TEMPLATE if self.user_layout == "card" else NUMBERED_TEMPLATE, rules]
        )

    def check(self, values: dict[str, Any]) -> list[Verdict]:
        choices = values.get("choices")
        return [
            check_text(values, "question"),
            _choices_verdict(choices),
            _answer_verdict(values.get("answer"), len(choices) if isinstance(choices, list | tuple) else None),
        ]

    def canonical_values(self, values: dict[str, Any]) -> dict[str, Any]:
        """`answer` read as synth reads it (an index, a letter or an option number), kept as the 0-based index
        that every reader takes back to the same option."""
        return {**values, "answer": normalize_answer(values["answer"], len(values["choices"])) - 1}

    def render(self, values: dict[str, Any], variant: str = "") -> Request:
        user = user_prompt(values["question"], values["choices"], self.user_layout)
        return Request(messages=({"role": "system", "content": self.system_prompt}, {"role": "user", "content": user}))

    def parse(
        self, values: dict[str, Any], completion: Completion, variant: str = "", first: Completion | None = None
    ) -> tuple[dict[str, Any], list[Verdict]]:
        trace = parse_trace(completion.text)
        verdicts = validate_trace(trace, values, self.settings)
        if completion.finish_reason == "length" and not verdicts[0].passed:
            verdicts[0] = Verdict(verdicts[0].name, False, f"{verdicts[0].reason} (the token budget ran out)")
        gold = normalize_answer(values["answer"], len(values["choices"]))
        predicted = answer_option(trace.output, values["choices"])
        fields = {
            "question": values["question"],
            "choices": list(values["choices"]),
            "gold_option": gold,
            "planning": trace.planning,
            "monitoring": trace.monitoring,
            "evaluation": trace.evaluation,
            "output": trace.output,
            "predicted_option": predicted,
            "correct": predicted == gold,  # the `correct` verdict's finding (answer_verdict reads the same option)
            "messages": None,
        }
        if all(v.passed for v in verdicts):
            request = self.render(values)
            fields["messages"] = [
                *map(dict, request.messages),
                {"role": "assistant", "content": completion.text.strip()},
            ]
        return fields, verdicts

    def values_from_output(self, row: dict[str, Any]) -> dict[str, Any]:
        # The gold is kept as a 1-based option number; as text it reads as one (a bare integer is 0-based).
        gold = row.get("gold_option")
        return {"question": row.get("question"), "choices": row.get("choices"), "answer": _option_text(gold)}

    def rejected(self, values: dict[str, Any]) -> dict[str, Any]:
        choices = values.get("choices")
        keep = isinstance(choices, list | tuple) and all(isinstance(c, str) for c in choices)
        question = values.get("question")
        return {
            **{f.name: None for f in self.fields},
            "question": question if isinstance(question, str) else None,
            "choices": list(choices) if keep else None,
        }


def _choices_verdict(choices: Any) -> Verdict:
    if choices is None:
        return Verdict("input_choices", False, "missing from this row")
    if not isinstance(choices, list | tuple):
        return Verdict("input_choices", False, f"expected a list of options, got {type(choices).__name__}")
    if len(choices) < 2:
        return Verdict("input_choices", False, f"expected at least 2 options, got {len(choices)}")
    for number, choice in enumerate(choices, start=1):
        if not isinstance(choice, str) or not choice.strip():
            return Verdict("input_choices", False, f"option {number} is empty or not text")
    return Verdict("input_choices", True, f"{len(choices)} options")


def _answer_verdict(answer: Any, n_choices: int | None) -> Verdict:
    if answer is None:
        why = "missing from this row"
    elif n_choices is None:
        why = f"{answer!r} cannot be checked without a list of options"
    elif (option := normalize_answer(answer, n_choices)) is not None:
        return Verdict("input_answer", True, f"option {option}")
    else:
        why = f"{answer!r} is not an option of 1..{n_choices}"
    forms = "an integer is a 0-based index, a letter counts from A, a digit string is the 1-based option number"
    return Verdict("input_answer", False, f"{why} ({forms})")


def _option_text(option: Any) -> str | None:
    return str(option) if isinstance(option, int) and not isinstance(option, bool) else None
