"""One function per verdict: the same hand-written completions through synth's parse, the judge's checks, eval's
scorer and the GRPO rewards give the same verdicts, for every task family (issue 23, item 1).

Pure functions only: no model, no engine (section tokens are counted as words, as in the other structured tests).
"""

from __future__ import annotations

import pytest

from harness.config import ConfigError
from harness.engines.base import Completion
from harness.evalsets.lm_eval_tasks import generative_metrics
from harness.stages.train_rewards import resolve_rewards
from judges.format_check import check_format
from judges.registry import VERIFIERS
from judges.rewards import verdict_reward
from judges.structured_format import FORMAT_RULES
from tasks import get_task
from tasks.backfill import BackfillTask
from tasks.structured import StructuredTask
from tasks.structured_mc import parse_answer
from tests.unit.structured_samples import ROW, SETTINGS, completion, word_count

RULE_NAMES = [rule.__name__ for rule in FORMAT_RULES]
# The edge forms of a structured answer (the gold is option 2 of 4). Only an option number in <output> answers
# (the card's "the output must be only the number of the option"; rule 7): the rest name no option.
STRUCTURED = {
    "2": True,
    "2.": True,
    "(2)": True,
    "Option 2": True,
    "3": False,
    "2. Mercury": False,
    "The answer is 2": False,
    "Mercury": False,
    "5": False,  # out of range
    "": False,
}


def _structured_completions() -> list[tuple[str, bool]]:
    cases = [(completion(output=output), right) for output, right in STRUCTURED.items()]
    cases.append(("The answer is 2", False))  # no tags at all
    cases.append((completion(output="2", after="\nThe answer is 2."), True))  # stray text: a structure failure
    return cases


@pytest.mark.parametrize(("text", "right"), _structured_completions())
def test_structured_synth_judge_eval_and_grpo_agree(text, right):
    task = StructuredTask(tokenizer=word_count)
    fields, synth = task.parse(ROW, Completion(text, "stop", 0, 0))
    synth = {v.name: v.passed for v in synth}
    assert synth["correct"] is right and fields["correct"] is right

    # judge: `mc` on the stored row (prediction `output`, gold `gold_option` as text) and `format`
    judged = VERIFIERS["mc"].check_for("structured")(fields["output"], str(fields["gold_option"]), ROW["choices"])
    assert judged.score == float(right)
    assert check_format(task, task.values_from_output(fields), text, "correct").score == float(right)

    # eval: the harness's own scorer and lm-eval's process_results (acc), on the same completion
    parsed = parse_answer(text, 4, ROW["question"], ROW["choices"], SETTINGS, answer=ROW["answer"])
    assert parsed.correct is right
    assert {v.name: v.passed for v in parsed.verdicts} == {n: synth[n] for n in RULE_NAMES}
    assert (parsed.option == ROW["answer"]) is right
    doc = {"question": ROW["question"], "choices": ROW["choices"], "answer": ROW["answer"]}
    assert generative_metrics("tasks.structured_mc")(doc, [text])["acc"] == float(right)

    # GRPO: one reward per rule and the correctness reward, by the names a recipe uses
    names = [f"structured_{n}" for n in [*RULE_NAMES, "correct"]]
    rewards = resolve_rewards(names, task)
    columns = {k: [v] for k, v in task.canonical_values(ROW).items()}
    scores = {n.removeprefix("structured_"): r([text], **columns)[0] for n, r in zip(names, rewards, strict=True)}
    assert scores == {n: float(passed) for n, passed in synth.items() if n in scores}


STAR_VALUES = {"question": "What is 6 times 7?", "answer": "42"}
STAR = [
    ("6 times 7 is 42.\n### Answer: 42", True, True),
    ("Six sevens make forty-two.\n### Answer:\n42.", True, True),  # a trailing period does not matter
    ("6 * 7 = 42\n### Answer: 42.0", True, True),  # numbers by value
    ("6 times 7 is 48.\n### Answer: 48", True, False),
    ("6 times 7 is 42.", False, None),  # no answer header
    ("### Answer: 42", False, None),  # no rationale
    ("6 times 7 is 42.\n### Answer:", False, None),  # no answer
]


@pytest.mark.parametrize(("text", "formatted", "right"), STAR)
def test_star_synth_judge_and_grpo_agree(text, formatted, right):
    task = get_task("star")
    fields, verdicts = task.parse(STAR_VALUES, Completion(text, "stop", 0, 0))
    assert [v.passed for v in verdicts] == [formatted] and fields["correct"] is right
    if formatted:  # judge `exact` on the stored row: prediction `answer`, gold `reference`
        assert VERIFIERS["exact"].check_for("star")(fields["answer"], fields["reference"]).score == float(right)
    assert check_format(task, task.values_from_output(fields), text).score == float(formatted)
    columns = {"question": [STAR_VALUES["question"]], "answer": [STAR_VALUES["answer"]]}
    star_correct, star_format = resolve_rewards(["star_correct", "star:format"], task)
    assert star_correct([text], **columns) == [float(bool(right))]
    assert star_format([text], **columns) == [float(formatted)]


BACKFILL_VALUES = {"instruction": "What is 2 + 2?", "solution": "2 + 2 = 4.\nThe answer is 4."}
BACKFILL = [
    "Two and two make four, counted on fingers.\n<|thinking_end|>\n\n2 + 2 = 4.\nThe answer is 4.",
    "Two and two make four, counted on fingers.\n<|thinking_end|>\n",  # solution not repeated: kept
    "Two and two make four, counted on fingers.\n<|thinking_end|>\n2 + 2 = 5.",  # rewritten
    "Two and two make four.",  # no end marker
    "\n<|thinking_end|>\n2 + 2 = 4.",  # empty trace
    "2 + 2 = 4.\n<|thinking_end|>\n",  # restates the solution
    "Think.\n<|thinking_start|>\nAgain.\n<|thinking_end|>\n",  # a second start marker
]


@pytest.mark.parametrize("text", BACKFILL)
def test_backfill_synth_judge_and_grpo_agree(text):
    task = BackfillTask(min_trace_words=3)
    fields, verdicts = task.parse(BACKFILL_VALUES, Completion(text, "stop", 0, 0))
    values = task.values_from_output(fields)
    columns = {k: [v] for k, v in BACKFILL_VALUES.items()}
    for verdict in verdicts:
        assert check_format(task, values, text, verdict.name).score == float(verdict.passed)
        assert verdict_reward(task, verdict.name)([text], **columns) == [float(verdict.passed)]
    valid = all(v.passed for v in verdicts)
    assert check_format(task, values, text).score == float(valid)
    assert verdict_reward(task)([text], **columns) == [float(valid)]


@pytest.mark.parametrize("name", ["reasoning-token", "thought-variants"])
def test_two_step_families_have_no_single_completion_reward(name):
    # Their verdicts read both generations; a GRPO completion is one, so the reward is refused, never guessed.
    with pytest.raises(ConfigError, match="two-step"):
        resolve_rewards([f"{name}:answer_nonempty"])
