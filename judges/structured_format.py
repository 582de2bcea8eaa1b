"""Format validators for the `structured` task (Qwen2.5 GRPO structured-reasoning card), one per card rule.

A completion must look like

    <think>
    <planning> ... </planning>
    <monitoring> ... </monitoring>
    <evaluation> ... </evaluation>
    </think>
    <output> ... </output>

`parse_trace` (judges/structured_trace.py) reads a completion once (never raises, whatever the text); every
rule here is then a function `rule(trace, row, settings) -> Verdict | None` (None: the rule cannot apply, e.g. no
question was given). The task's verdicts (`validate`) and the TRL rewards (`judges.structured_rewards`) call these
same functions, so one check serves filtering, eval and RL. The patterns and searches the rules use (what counts
as a calculation, a deduction, a placeholder, the problem's values) are in judges/structured_evidence.py.

Each card rule (its system prompt's FORMAT RULES 1-7) is one rule here, and so is each item of its
INVALID RESPONSES list:

    card                                           rule (verdict name)
    1. three sections in order                     structure
    2. detailed reasoning in full sentences        full_sentences
    3. at least 40/80/40 tokens                    min_tokens
    4. monitoring: calculations, derivations,      explicit_steps
       or logical deductions
    5. the four generic placeholder phrases        forbidden_phrases (our fourteen more: EXTRA_FORBIDDEN_PHRASES,
                                                   opt-in)
    6. references values, equations, relations     references_problem
    7. <output> only the final answer              output_only
    INVALID: empty sections, bullet point          no_placeholders
             placeholders
    INVALID: generic reasoning                     forbidden_phrases and references_problem
    INVALID: missing calculations when required    calculations (the question asks for a computation:
                                                   <monitoring> computes)
    INVALID: incorrect tag order                   structure
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from harness.artifacts.schemas import Verdict
from judges.multiple_choice import OPTION_ONLY, normalize_answer
from judges.structured_evidence import (
    PLACEHOLDER_WORDS,
    asks_for_computation,
    find_calculation,
    find_step,
    mentions,
    placeholder_line,
    problem_of,
    problem_values,
)
from judges.structured_trace import SECTIONS, Trace, parse_trace, shorten
from judges.token_count import DEFAULT_TOKENIZER, TokenCounter
from judges.verifiers import Checked

MIN_TOKENS = {"planning": 40, "monitoring": 80, "evaluation": 40}  # card rule 3, verbatim

# Card rule 5, verbatim: "Generic placeholder phrases are forbidden, including:" these four. Matched
# case-insensitively on word boundaries inside <think>.
CARD_FORBIDDEN_PHRASES = (
    "analyze the problem",
    "determine the strategy",
    "verify the solution",
    "check correctness",
)
DEFAULT_FORBIDDEN_PHRASES = CARD_FORBIDDEN_PHRASES
# Ours, not the card's (rule 5 says "including"): more filler that fits any problem. Opt-in (task option
# `extra_phrases`, or list them in `forbidden_phrases`).
EXTRA_FORBIDDEN_PHRASES = (
    "as an ai",
    "let me think",
    "let's think step by step",
    "i need to think carefully",
    "i will analyze the question",
    "i will carefully consider",
    "this is a complex question",
    "this is a simple question",
    "based on my knowledge",
    "based on general knowledge",
    "the answer is obvious",
    "it is obvious that",
    "without further analysis",
    "i am confident",
)
# Card rule 2: "detailed reasoning in full sentences": sentences of at least this many words, ended by . ! ? or :
SENTENCE_END = re.compile(r"[.!?:](?=\s|$)|\n")  # a sentence's end, or a line's (which ends no sentence)
MIN_SENTENCE_WORDS = 5
MIN_SENTENCE_SHARE = 0.5  # of a section's words that stand in full sentences (the rest: fragments, bullets)


@dataclass(frozen=True)
class Settings:
    """The knobs of the rules. Picklable and hashable (TRL may ship rewards to other processes)."""

    min_tokens: Mapping[str, int] = field(default_factory=lambda: dict(MIN_TOKENS))
    forbidden_phrases: tuple[str, ...] = DEFAULT_FORBIDDEN_PHRASES
    tokens: TokenCounter = field(default_factory=lambda: TokenCounter(DEFAULT_TOKENIZER))
    min_references: int = 1  # values (numbers or key terms) from the problem the reasoning must mention

    def __post_init__(self) -> None:
        phrases = tuple(dict.fromkeys(" ".join(p.lower().split()) for p in self.forbidden_phrases))
        object.__setattr__(self, "forbidden_phrases", tuple(p for p in phrases if p))
        unknown = set(self.min_tokens) - set(SECTIONS)
        if unknown:
            raise ValueError(f"min_tokens: unknown section(s) {sorted(unknown)}; sections are {list(SECTIONS)}")

    def __hash__(self) -> int:
        return hash((tuple(sorted(self.min_tokens.items())), self.forbidden_phrases, self.tokens, self.min_references))


Rule = Callable[[Trace, Mapping[str, Any], Settings], Verdict | None]


# -- the rules -------------------------------------------------------------------------------------------
# Passing verdicts with a fixed reason are built once (a Verdict is immutable; most rows pass most rules).
STRUCTURE_OK = Verdict("structure", True, "think(planning, monitoring, evaluation) then output")
MIN_TOKENS_OK = Verdict("min_tokens", True, "every section meets its minimum")
FULL_SENTENCES_OK = Verdict("full_sentences", True, "every section reasons in full sentences")
NO_FORBIDDEN_OK = Verdict("forbidden_phrases", True, "no generic phrase")
NO_PLACEHOLDERS_OK = Verdict("no_placeholders", True, "no empty section or placeholder")


def structure(trace: Trace, row: Mapping[str, Any], settings: Settings) -> Verdict:
    """Card rule 1: <think> holds exactly <planning>, <monitoring>, <evaluation> in order, then <output>."""
    if trace.problem is None:
        return STRUCTURE_OK
    return Verdict("structure", False, trace.problem)


def min_tokens(trace: Trace, row: Mapping[str, Any], settings: Settings) -> Verdict:
    """Card rule 3: at least 40/80/40 tokens in planning/monitoring/evaluation (the model's tokenizer)."""
    short = []
    for name, need in settings.min_tokens.items():
        section = getattr(trace, name)
        if section is None:
            short.append(f"<{name}> missing")
            continue
        enough, count = settings.tokens.at_least(section, need)
        if not enough:
            short.append(f"<{name}> has {count} tokens, needs {need}")
    if short:
        return Verdict("min_tokens", False, "; ".join(short))
    return MIN_TOKENS_OK


def full_sentences(trace: Trace, row: Mapping[str, Any], settings: Settings) -> Verdict:
    """Card rule 2: each section holds detailed reasoning in full sentences, not fragments or bullet lists."""
    for name in SECTIONS:
        section = getattr(trace, name)
        if not section:
            return Verdict("full_sentences", False, f"<{name}> is missing or empty")
        words = len(section.split())
        enough = MIN_SENTENCE_SHARE * words
        in_sentences = start = 0
        for end in SENTENCE_END.finditer(section):
            piece, start = section[start : end.end()], end.end()
            if end.group() != "\n" and (n := len(piece.split())) >= MIN_SENTENCE_WORDS:
                in_sentences += n
                if in_sentences >= enough:  # most sections: decided before the last sentence
                    break
        if in_sentences == 0:
            return Verdict("full_sentences", False, f"<{name}> has no full sentence ({MIN_SENTENCE_WORDS}+ words)")
        if in_sentences < MIN_SENTENCE_SHARE * words:
            share = f"{in_sentences} of {words} words"
            return Verdict("full_sentences", False, f"<{name}> is mostly fragments: {share} in full sentences")
    return FULL_SENTENCES_OK


def explicit_steps(trace: Trace, row: Mapping[str, Any], settings: Settings) -> Verdict:
    """Card rule 4: <monitoring> shows explicit steps: a calculation, a derivation or a logical deduction."""
    monitoring = trace.monitoring
    if not monitoring:
        return Verdict("explicit_steps", False, "no <monitoring> section")
    if step := find_step(monitoring):
        return Verdict("explicit_steps", True, f"shows {step!r}")
    return Verdict("explicit_steps", False, "<monitoring> has no calculation, derivation or logical deduction")


def calculations(trace: Trace, row: Mapping[str, Any], settings: Settings) -> Verdict | None:
    """INVALID "Missing calculations when required": when the question asks for a computation
    (`asks_for_computation`), <monitoring> computes. None when the row has no question; passes when the question
    asks for none, however many numbers it holds (a history question with two years)."""
    problem = problem_of(row)
    if problem is None:
        return None
    cue = asks_for_computation(problem[0])
    if cue is None:
        return Verdict("calculations", True, "the question asks for no computation")
    if trace.monitoring and (calc := find_calculation(trace.monitoring)):
        return Verdict("calculations", True, f"computes {calc!r}")
    return Verdict("calculations", False, f"the question asks for a computation ({cue!r}) but <monitoring> shows none")


def forbidden_phrases(trace: Trace, row: Mapping[str, Any], settings: Settings) -> Verdict:
    """No generic filler phrase from the (configurable) list in the reasoning."""
    lowered = trace.reasoning.lower()
    for phrase in settings.forbidden_phrases:
        if phrase in lowered and mentions(lowered, phrase):  # `in` first: most phrases are absent
            return Verdict("forbidden_phrases", False, f"uses the generic phrase {phrase!r}")
    return NO_FORBIDDEN_OK


def references_problem(trace: Trace, row: Mapping[str, Any], settings: Settings) -> Verdict | None:
    """The reasoning mentions values from the problem: its numbers, else its key terms (question and options)."""
    problem = problem_of(row)
    if problem is None:
        return None
    numbers, terms = problem_values(*problem)
    if not numbers and not terms:
        return Verdict("references_problem", True, "the problem has no numbers or key terms to reference")
    lowered = trace.reasoning.lower()
    found = []
    for value in numbers + terms:
        if value in lowered and mentions(lowered, value):
            found.append(value)
            if len(found) >= settings.min_references:
                return Verdict("references_problem", True, f"mentions {', '.join(map(repr, found))}")
    shown = ", ".join(map(repr, (numbers + terms)[:5]))
    return Verdict("references_problem", False, f"mentions none of the problem's values ({shown}, ...)")


def no_placeholders(trace: Trace, row: Mapping[str, Any], settings: Settings) -> Verdict:
    """INVALID "Empty sections" and "Bullet point placeholders": no empty section, no line that is only a bullet,
    an ellipsis or "TBD", and no bullet line of a few words standing in for a step."""
    for name in (*SECTIONS, "output"):
        section = getattr(trace, name)
        if section is None:
            continue  # a missing section is the structure rule's finding
        if not section:
            return Verdict("no_placeholders", False, f"<{name}> is empty")
        if name == "output":  # one short answer: only a placeholder word counts ("2." is a fine answer)
            line = section if section.lower() in PLACEHOLDER_WORDS else None
        else:
            line = placeholder_line(section)
        if line:
            return Verdict("no_placeholders", False, f"<{name}> has the placeholder {line!r}")
    return NO_PLACEHOLDERS_OK


def answer_option(output: str | None, choices: Any = None) -> int | None:
    """The option a structured answer names, or None: `<output>` holds only an option number ("2", "2.", "(2)",
    "Option 2"), within 1..len(choices) when the options are known. The one reader of the card's answer: rule 7
    (`output_only`), `correct`, the task's `predicted_option`, eval's accuracy and the GRPO rewards all call it.

    Strict because the card is: its user turn asks that "the output must be only the number of the option", rule
    7 that "<output> must contain ONLY the final answer", and "invalid structure = rejected response". So
    `2. Mercury` or "The answer is 2" in `<output>` names no option, and is not a right answer."""
    if not output:
        return None
    match = OPTION_ONLY.fullmatch(output)
    if match is None:
        return None
    option = int(match.group(1))
    if option < 1 or (_is_list(choices) and option > len(choices)):
        return None
    return option


def output_only(trace: Trace, row: Mapping[str, Any], settings: Settings) -> Verdict:
    """<output> holds only the final answer: one option number (within the options, when they are known)."""
    output = trace.output
    if output is None:
        return Verdict("output_only", False, "no <output> block")
    option = answer_option(output, row.get("choices"))
    if option is not None:
        return Verdict("output_only", True, f"option {option}")
    match = OPTION_ONLY.fullmatch(output)  # only to say why: the answer is answer_option's
    if match is None:
        return Verdict("output_only", False, f"<output> must hold only an option number, got {shorten(output)!r}")
    return Verdict("output_only", False, f"option {int(match.group(1))} is not one of 1..{len(row['choices'])}")


def answer_verdict(output: str | None, gold: Any, choices: Any = None) -> Verdict | None:
    """`correct` on an answer text: the option `answer_option` reads is the gold (`gold`: 0-based index, letter
    or 1-based option number as text). None when the gold is not an option. `harness judge --judge mc` on
    structured rows calls it too (judges/registry.py)."""
    gold_option = normalize_answer(gold, len(choices) if _is_list(choices) else None)
    if gold_option is None:
        return None
    predicted = answer_option(output, choices)
    if predicted is None:
        return Verdict("correct", False, "no answer: <output> must hold only an option number (rule 7)")
    if predicted != gold_option:
        return Verdict("correct", False, f"answered option {predicted}, the answer is option {gold_option}")
    return Verdict("correct", True, f"option {gold_option}")


def check_answer(prediction: Any, gold: Any, choices: Any = None) -> Checked:
    """`answer_verdict` as a judge's check (`harness judge --judge mc` on structured rows: prediction `output`)."""
    verdict = answer_verdict(prediction if isinstance(prediction, str) else None, gold, choices)
    if verdict is None:
        return Checked(None, f"gold answer {gold!r} is not an option")
    return Checked(float(verdict.passed), verdict.reason, unparsable=verdict.reason.startswith("no answer"))


def correct(trace: Trace, row: Mapping[str, Any], settings: Settings) -> Verdict | None:
    """The option in <output> is the gold answer (`answer`: 0-based index, letter or 1-based option number)."""
    return answer_verdict(trace.output, row.get("answer"), row.get("choices"))


FORMAT_RULES: tuple[Rule, ...] = (
    structure,
    full_sentences,
    min_tokens,
    explicit_steps,
    calculations,
    forbidden_phrases,
    references_problem,
    no_placeholders,
    output_only,
)
RULES: tuple[Rule, ...] = (*FORMAT_RULES, correct)


def validate(text: Any, row: Mapping[str, Any], settings: Settings, rules: Iterable[Rule] = RULES) -> list[Verdict]:
    """Every rule's verdict on one completion (rules that cannot apply to this row are left out)."""
    return validate_trace(parse_trace(text), row, settings, rules)


def validate_trace(
    trace: Trace, row: Mapping[str, Any], settings: Settings, rules: Iterable[Rule] = RULES
) -> list[Verdict]:
    """`validate` for a completion already parsed."""
    return [v for rule in rules if (v := rule(trace, row, settings)) is not None]


def _is_list(value: Any) -> bool:
    return isinstance(value, list | tuple)
