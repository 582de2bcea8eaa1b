"""judges/structured_format.py: the parser and every card rule, on good, hostile and malformed completions."""

from __future__ import annotations

import time

import pytest

from judges.multiple_choice import parse_option
from judges.structured_format import (
    CARD_FORBIDDEN_PHRASES,
    DEFAULT_FORBIDDEN_PHRASES,
    EXTRA_FORBIDDEN_PHRASES,
    RULES,
    Settings,
    correct,
    explicit_steps,
    forbidden_phrases,
    min_tokens,
    no_placeholders,
    normalize_answer,
    output_only,
    parse_trace,
    references_problem,
    structure,
    validate,
)
from judges.structured_trace import TAGS
from judges.token_count import TokenCounter, has_words
from tests.unit.structured_samples import EVALUATION, GOOD, MONITORING, PLANNING, ROW, SETTINGS, completion, word_count


def verdicts(text, row=ROW, settings=SETTINGS):
    return {v.name: v for v in validate(text, row, settings)}


def run(rule, text, row=ROW, settings=SETTINGS):
    return rule(parse_trace(text), row, settings)


# -- the whole trace ---------------------------------------------------------------------------------------
def test_a_good_trace_passes_every_rule():
    found = verdicts(GOOD)
    assert list(found) == [rule.__name__ for rule in RULES]
    assert all(v.passed for v in found.values()), found
    assert found["correct"].reason == "option 2"


def test_parse_returns_stripped_sections_and_the_think_block():
    trace = parse_trace(GOOD)
    assert (trace.planning, trace.monitoring, trace.evaluation, trace.output) == (PLANNING, MONITORING, EVALUATION, "2")
    assert trace.reasoning.strip().startswith("<planning>") and trace.reasoning.strip().endswith("</evaluation>")
    assert trace.problem is None


def test_less_than_signs_inside_sections_take_the_slow_path_and_still_pass():
    text = completion(monitoring=MONITORING + " Since 0.39 < 0.72, Mercury is closer.")
    assert parse_trace(text).monitoring.endswith("0.39 < 0.72, Mercury is closer.")
    assert all(v.passed for v in verdicts(text).values())


def test_whitespace_around_and_between_tags_is_allowed():
    text = "\n\n  " + GOOD.replace("</planning>\n<monitoring>", "</planning>\n\n\t<monitoring>") + "\n \n"
    assert run(structure, text).passed


# -- structure: malformed ----------------------------------------------------------------------------------
@pytest.mark.parametrize("tag", TAGS)
def test_each_missing_tag_is_named(tag):
    verdict = run(structure, GOOD.replace(tag, "", 1))
    assert not verdict.passed
    assert verdict.reason == f"missing {tag}"


def test_duplicated_section():
    text = GOOD.replace("</planning>", f"</planning>\n<planning>\n{PLANNING}\n</planning>")
    assert run(structure, text).reason == "<planning> appears 2 times"
    assert run(structure, GOOD.replace("</think>", "</think></think>")).reason == "</think> appears 2 times"


def test_wrong_order():
    text = completion().replace("<planning>", "<X>").replace("</planning>", "</X>")
    text = text.replace("<monitoring>", "<planning>").replace("</monitoring>", "</planning>")
    text = text.replace("<X>", "<monitoring>").replace("</X>", "</monitoring>")
    assert run(structure, text).reason == "<monitoring> comes before </planning>"


def test_nested_sections():
    text = (
        f"<think>\n<planning>\n{PLANNING}\n<monitoring>\n{MONITORING}\n</monitoring>\n</planning>\n"
        f"<evaluation>\n{EVALUATION}\n</evaluation>\n</think>\n<output>2</output>"
    )
    assert run(structure, text).reason == "<monitoring> comes before </planning>"


def test_output_inside_think():
    text = GOOD.replace("</think>\n<output>\n2\n</output>", "<output>2</output>\n</think>")
    assert run(structure, text).reason == "<output> comes before </think>"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (completion(before="Sure! "), "text before <think>: 'Sure!'"),
        (completion(after="\nHope this helps."), "text after </output>: 'Hope this helps.'"),
        (GOOD.replace("</planning>\n", "</planning>\nstray words\n"), "text between </planning> and <monitoring>"),
        (GOOD.replace("</think>\n", "</think>\nso:\n"), "text between </think> and <output>: 'so:'"),
    ],
)
def test_text_outside_the_sections(text, reason):
    verdict = run(structure, text)
    assert not verdict.passed and verdict.reason.startswith(reason)


def test_tags_are_case_sensitive():
    assert run(structure, GOOD.replace("<planning>", "<Planning>")).reason == "missing <planning>"


def test_truncated_completion():
    text = GOOD[: GOOD.index("</output>")]
    assert run(structure, text).reason == "missing </output>"
    trace = parse_trace(text)
    assert trace.output is None and trace.planning == PLANNING


@pytest.mark.parametrize("value", ["", "   ", "no tags at all", None, 42, b"<think>", ["<think>"], "<" * 1000])
def test_parse_never_raises_on_junk(value):
    found = verdicts(value)
    assert not found["structure"].passed
    assert not found["output_only"].passed and not found["correct"].passed


def test_huge_inputs_stay_fast():
    hostile = [
        "<think>" * 200_000,
        "<" * 2_000_000,
        completion(monitoring="x" * 3_000_000),  # one 3 MB "word"
        completion(planning="word " * 400_000),
        "".join(TAGS) * 50_000,
    ]
    start = time.process_time()  # this process's CPU time: other jobs on a shared machine do not count
    results = [verdicts(text) for text in hostile]
    assert time.process_time() - start < 5
    assert not results[0]["structure"].passed and not results[4]["structure"].passed
    assert results[3]["structure"].passed and results[3]["min_tokens"].passed


# -- min_tokens --------------------------------------------------------------------------------------------
def words(n: int) -> str:
    return " ".join(f"w{i}" for i in range(n))


def test_minimum_tokens_exactly_met_and_one_short():
    assert run(min_tokens, completion(planning=words(40), monitoring=words(80), evaluation=words(40))).passed
    verdict = run(min_tokens, completion(planning=words(39), monitoring=words(79), evaluation=words(40)))
    assert not verdict.passed
    assert verdict.reason == "<planning> has 39 tokens, needs 40; <monitoring> has 79 tokens, needs 80"


def test_the_tokenizer_runs_only_for_sections_short_in_words():
    calls = []

    def spy(text: str) -> int:
        calls.append(text)
        return 100  # e.g. a section of few words, each many tokens long

    settings = Settings(tokens=TokenCounter(spy))
    assert run(min_tokens, GOOD, settings=settings).passed
    assert calls == []
    assert run(min_tokens, completion(planning="Supercalifragilistic antidisestablishment"), settings=settings).passed
    assert calls == ["Supercalifragilistic antidisestablishment"]


def test_missing_sections_count_as_short():
    text = GOOD.replace("<monitoring>", "").replace("</monitoring>", "")
    assert run(min_tokens, text).reason == "<monitoring> missing"


def test_custom_minimums_and_unknown_sections():
    settings = Settings(min_tokens={"planning": 5}, tokens=TokenCounter(word_count))
    assert run(min_tokens, completion(planning=words(5), monitoring="", evaluation=""), settings=settings).passed
    with pytest.raises(ValueError, match="unknown section"):
        Settings(min_tokens={"output": 1})


def test_has_words_is_a_lower_bound():
    assert has_words("a b  c\n\nd", 4) and not has_words("a b  c\n\nd", 5)
    assert has_words("", 0) and not has_words("   ", 1)
    assert not has_words("a\x1fb c d", 2)  # str.split() splits on \x1f, tokenizers do not: no shortcut


# -- explicit_steps ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("monitoring", "passed"),
    [
        # Card rule 4: "calculations, derivations, or logical deductions"; a lone number or "so" is none of them.
        ("The orbit is 0.39 AU.", False),
        ("It comes first, so it wins.", False),
        ("0.72 - 0.39 = 0.33 AU, the gap between the two orbits.", True),  # a calculation
        ("Distance equals speed times time, d = v t.", True),  # a derivation (an equation)
        ("Mercury is first, therefore it is closest.", True),  # a deduction
        ("If Venus were first then Mercury would be second, which the order contradicts.", True),
        ("Because Mercury orbits inside Venus, Mercury is closer.", True),
        ("Mercury is the closest planet and also the smallest one.", False),  # "so" inside "also" does not count
        ("Mercury is the closest planet.", False),
    ],
)
def test_monitoring_shows_explicit_steps(monitoring, passed):
    assert run(explicit_steps, completion(monitoring=monitoring)).passed is passed


def test_explicit_steps_without_monitoring():
    assert run(explicit_steps, "<output>2</output>").reason == "no <monitoring> section"


# -- forbidden_phrases -------------------------------------------------------------------------------------
def test_a_generic_phrase_fails_case_insensitively():
    verdict = run(forbidden_phrases, completion(planning="First ANALYZE the problem. " + PLANNING))
    assert not verdict.passed and verdict.reason == "uses the generic phrase 'analyze the problem'"


def test_phrases_match_whole_words_only_and_only_in_the_reasoning():
    assert run(forbidden_phrases, completion(planning=PLANNING + " I verify the solutions later.")).passed
    assert run(
        forbidden_phrases, completion(output="Verify the solution, 2")
    ).passed  # <output> is output_only's business


def test_the_phrase_list_is_configurable_and_normalized():
    settings = Settings(forbidden_phrases=("  The   Closest ", ""), tokens=TokenCounter(word_count))
    assert settings.forbidden_phrases == ("the closest",)
    assert run(forbidden_phrases, GOOD, settings=settings).reason == "uses the generic phrase 'the closest'"
    assert run(forbidden_phrases, GOOD, settings=Settings(forbidden_phrases=())).passed
    assert DEFAULT_FORBIDDEN_PHRASES == CARD_FORBIDDEN_PHRASES  # the card's four; ours are opt-in
    assert "let me think" in EXTRA_FORBIDDEN_PHRASES and "let me think" not in DEFAULT_FORBIDDEN_PHRASES


# -- references_problem ------------------------------------------------------------------------------------
def test_reasoning_mentions_the_problem_values():
    assert run(references_problem, GOOD).passed
    row = {"question": "What is 12 * 12?", "choices": ["124", "144"], "answer": 1}
    assert run(references_problem, completion(monitoring="Twelve squared: 12 x 12 = 144."), row).passed
    verdict = run(references_problem, completion(planning="x", monitoring="y", evaluation="z"), row)
    assert not verdict.passed and verdict.reason.startswith("mentions none of the problem's values ('12', '124'")


def test_numbers_match_whole_numbers_only():
    row = {"question": "What is 12 + 0?", "choices": ["1", "2"], "answer": 0}
    text = completion(planning="The sum is 120.", monitoring="So 3120 it is.", evaluation="Done.")
    assert not run(references_problem, text, row).passed


def test_key_terms_come_from_the_options_when_the_question_has_none():
    row = {"question": "Which is true?", "choices": ["Photosynthesis needs light", "Rocks breathe"], "answer": 0}
    assert run(references_problem, completion(monitoring="Photosynthesis uses light energy."), row).passed


def test_rule_does_not_apply_without_a_question():
    assert run(references_problem, GOOD, row={}) is None
    assert "references_problem" not in verdicts(GOOD, row={})
    empty = {"question": "Is it 1?", "choices": [], "answer": None}
    assert run(references_problem, completion(monitoring="one"), empty).reason.startswith("mentions none")
    assert run(references_problem, GOOD, {"question": "Is it?"}).reason.startswith("the problem has no")


# -- no_placeholders ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (completion(planning="..."), "<planning> has the placeholder '...'"),
        (completion(monitoring=MONITORING + "\n-"), "<monitoring> has the placeholder '-'"),
        (completion(evaluation="*\n" + EVALUATION), "<evaluation> has the placeholder '*'"),
        (completion(planning="TBD"), "<planning> has the placeholder 'TBD'"),
        (completion(planning=PLANNING + "\n- tbd"), "<planning> has the placeholder '- tbd'"),
        (completion(planning=PLANNING + "\n2. …"), "<planning> has the placeholder '2. …'"),
        (completion(evaluation=""), "<evaluation> is empty"),
        (completion(output=""), "<output> is empty"),
        (completion(output="..."), "<output> has the placeholder '...'"),
    ],
)
def test_placeholders_and_empty_sections(text, reason):
    verdict = run(no_placeholders, text)
    assert not verdict.passed and verdict.reason == reason


def test_real_lists_and_trailing_ellipses_are_not_placeholders():
    text = completion(planning=PLANNING + "\n- compare Venus and Mercury\n* then Earth...", output="2.")
    assert run(no_placeholders, text).passed


# -- output_only and the answer ----------------------------------------------------------------------------
@pytest.mark.parametrize("output", ["2", "2.", "(2)", "[2]", "Option 2", "option (2).", "OPTION 2"])
def test_output_holding_only_an_option_number(output):
    assert run(output_only, completion(output=output)).passed
    assert parse_option(output) == 2


@pytest.mark.parametrize(
    ("output", "reason"),
    [
        ("2. Mercury", "<output> must hold only an option number, got '2. Mercury'"),
        ("The answer is 2", "<output> must hold only an option number, got 'The answer is 2'"),
        ("5", "option 5 is not one of 1..4"),
        ("0", "option 0 is not one of 1..4"),
        ("Mercury", "<output> must hold only an option number, got 'Mercury'"),
    ],
)
def test_output_with_more_than_the_option(output, reason):
    verdict = run(output_only, completion(output=output))
    assert not verdict.passed and verdict.reason == reason


def test_output_only_without_options_accepts_any_number():
    assert run(output_only, completion(output="7"), row={}).passed
    assert run(output_only, "no output").reason == "no <output> block"


@pytest.mark.parametrize(
    ("output", "option"),
    [
        ("2. Mercury", 2),
        ("(3) Earth", 3),
        ("The answer is option 4 because 4 > 1", 4),
        ("The answer is 2", 2),
        ("2 or 3", None),
        ("Mercury", None),
        ("It is 0.39 AU", None),
        ("", None),
        (None, None),
        ("9" * 5000, None),
    ],
)
def test_parse_option_is_lenient_but_never_guesses(output, option):
    assert parse_option(output) == option


@pytest.mark.parametrize(
    ("answer", "option"),
    [(1, 2), (0, 1), (3, 4), ("B", 2), ("b", 2), ("(B)", 2), ("2", 2), ("Option 2", 2), (" 4 ", 4)],
)
def test_gold_answers_normalize_to_option_numbers(answer, option):
    assert normalize_answer(answer, 4) == option


@pytest.mark.parametrize("answer", [4, -1, "E", "0", "5", True, 1.0, None, "", "two", ["B"]])
def test_bad_gold_answers_are_none(answer):
    assert normalize_answer(answer, 4) is None


def test_correct():
    assert run(correct, GOOD).passed
    assert run(correct, completion(output="3")).reason == "answered option 3, the answer is option 2"
    no_answer = "no answer: <output> must hold only an option number (rule 7)"
    for output in ("Mercury", "2. Mercury", "The answer is 2", "5"):  # rule 7's reader: only an option number
        assert run(correct, completion(output=output)).reason == no_answer
    assert run(correct, GOOD, row={"question": "q"}) is None  # no gold: not applicable
    assert run(correct, completion(output="Option 2"), row={**ROW, "answer": "B"}).passed
