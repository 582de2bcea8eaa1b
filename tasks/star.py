"""`star`: N sampled rationales per question, checked for correctness (Memphis-CoT card, STaR-style).

Prompt format `### User:\\n{question}\\n\\n### Rationale:\\n`; the model writes its rationale, then
`### Answer:` and the answer. Eight samples per question at temperature 0.5, top_p 0.8, up to 512 tokens.
A sample without a rationale or an answer is rejected with a reason; the others are checked against the
reference answer. Besides every sample, the run writes a pairs artifact of unique (correct, incorrect)
responses per question, ready for ranking or DPO training.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from harness.artifacts.schemas import Verdict
from harness.engines.base import Completion, Request, SamplingParams
from judges.selection import PAIR_FIELDS, pair_rows
from judges.verifiers import Checked, answers_match, completion_text, reward_from_check
from tasks.base import Task, check_text

PROMPT = "### User:\n{question}\n\n### Rationale:\n"
ANSWER_HEADER = "### Answer:"
# The ground truth as the model would write it after PROMPT (the TinyCoT layout): the rank phase's cross-entropy is
# on it (the card: "A standard CE loss over the ground-truth was included to prevent excessive drift").
GOLD = "{rationale}\n\n### Answer:\n{answer}"


class StarTask(Task):
    name = "star"
    version = "1"
    columns = {"question": "question", "answer": "answer"}
    defaults = SamplingParams(temperature=0.5, top_p=0.8, max_tokens=512, n=8, stop=("### User:",))
    fields = [
        pa.field("question", pa.string()),
        pa.field("reference", pa.string()),  # the gold answer
        pa.field("rationale", pa.string()),
        pa.field("answer", pa.string()),  # the model's answer
        pa.field("correct", pa.bool_()),  # null when the sample was rejected for its format
    ]
    # `gold`: the question's reference rationale and answer (GOLD) when the input has a rationale, else null
    # (the rank trainer's cross-entropy then falls back to the chosen response).
    pair_fields = [*PAIR_FIELDS, pa.field("gold", pa.string())]

    def __init__(self, gold_rationale: bool = False) -> None:
        """`gold_rationale`: the input has the reference rationale (column `rationale`, TinyCoT's), which the
        pairs carry with the answer as the ground truth of the rank phase's cross-entropy."""
        self.gold_rationale = bool(gold_rationale)
        if self.gold_rationale:
            self.columns = {**StarTask.columns, "rationale": "rationale"}
            self.fields = [*StarTask.fields, pa.field("gold_rationale", pa.string())]

    def template(self) -> str:
        return PROMPT + "\0" + ANSWER_HEADER

    def check(self, values: dict[str, Any]) -> list[Verdict]:
        return [check_text(values, column) for column in self.columns]

    def values_from_output(self, row: dict[str, Any]) -> dict[str, Any]:
        values = {"question": row.get("question"), "answer": row.get("reference")}  # `answer` is the model's
        return {**values, "rationale": row.get("gold_rationale")} if self.gold_rationale else values

    def rejected(self, values: dict[str, Any]) -> dict[str, Any]:
        fields = {"question": _text(values.get("question")), "reference": _text(values.get("answer"))}
        return {**fields, "gold_rationale": _text(values.get("rationale"))} if self.gold_rationale else fields

    def render(self, values: dict[str, Any], variant: str = "") -> Request:
        return Request(prompt=PROMPT.format(question=values["question"]))

    def parse(
        self, values: dict[str, Any], completion: Completion, variant: str = "", first: Completion | None = None
    ) -> tuple[dict[str, Any], list[Verdict]]:
        fields = {"question": values["question"], "reference": values["answer"], "rationale": None, "answer": None}
        if self.gold_rationale:
            fields["gold_rationale"] = values["rationale"]
        rationale, answer, verdict = split_completion(completion.text, completion.finish_reason)
        if not verdict.passed:
            return {**fields, "correct": None}, [verdict]
        correct = answer_correct(answer, values["answer"])
        return {**fields, "rationale": rationale, "answer": answer, "correct": correct}, [verdict]

    def pairs(self, samples: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The pairs rows for one question, from its sample rows (in sample order)."""
        rows = pair_rows(
            samples,
            is_correct=lambda s: s["correct"] if s["valid"] else None,
            prompt_of=lambda s: PROMPT.format(question=s["question"]),
            response_of=lambda s: s["completion"],
        )
        return [{**row, "gold": _gold(samples[0])} for row in rows]


def split_completion(text: str, finish_reason: str | None = "stop") -> tuple[str, str, Verdict]:
    """The `format` verdict: (rationale, answer, verdict) of one completion; it passes when both are there."""
    rationale, header, answer = text.partition(ANSWER_HEADER)
    rationale, answer = rationale.strip(), answer.strip()
    if not header:
        why = "ran out of tokens" if finish_reason == "length" else "stopped"
        return rationale, answer, Verdict("format", False, f"no {ANSWER_HEADER} section (the model {why})")
    if not rationale:
        return rationale, answer, Verdict("format", False, "empty rationale")
    if not answer:
        return rationale, answer, Verdict("format", False, f"nothing after {ANSWER_HEADER}")
    return rationale, answer, Verdict("format", True, "rationale and answer present")


def answer_correct(answer: str, reference: str) -> bool:
    """The `correct` column: the answer equals the reference, numbers by value, text normalized (the `exact`
    judge's `answers_match`)."""
    return answers_match(answer, reference)


def check_completion(completion: Any, reference: Any) -> Checked:
    """`correct` on a whole completion (GRPO's `star_correct`): 1.0 when its answer is right, 0.0 when it is
    wrong or the format fails (nothing to check), None without a reference."""
    if not isinstance(reference, str) or not reference.strip():
        return Checked(None, "no reference answer")
    _, answer, verdict = split_completion(completion_text(completion))
    if not verdict.passed:
        return Checked(0.0, f"format: {verdict.reason}", unparsable=True)
    if answer_correct(answer, reference):
        return Checked(1.0, "matches the reference answer")
    return Checked(0.0, "does not match the reference answer")


# TRL reward `star_correct(completions, answer=[...])` (GRPO, and the star verifiers environment's rubric).
star_correct = reward_from_check(check_completion, "star_correct", ("answer",))


def _gold(sample: dict[str, Any]) -> str | None:
    rationale, answer = sample.get("gold_rationale"), sample.get("reference")
    if not (isinstance(rationale, str) and rationale.strip() and isinstance(answer, str)):
        return None
    return GOLD.format(rationale=rationale.strip(), answer=answer.strip())


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None
