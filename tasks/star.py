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

from harness.backends.base import Completion, Request, SamplingParams
from harness.records import Verdict
from judges.selection import unique_pairs
from judges.verifiers import answers_match
from tasks.base import Task, check_text

PROMPT = "### User:\n{question}\n\n### Rationale:\n"
ANSWER_HEADER = "### Answer:"

PAIR_FIELDS = [
    pa.field("record_id", pa.string(), nullable=False),  # the question's record_id in the samples artifact
    pa.field("source_index", pa.int64(), nullable=False),
    pa.field("pair_idx", pa.int32(), nullable=False),
    pa.field("question", pa.string()),
    pa.field("reference", pa.string()),
    pa.field("prompt", pa.string()),  # TRL's preference format: prompt, chosen, rejected
    pa.field("chosen", pa.string()),
    pa.field("rejected", pa.string()),
    pa.field("chosen_sample_idx", pa.int32()),
    pa.field("rejected_sample_idx", pa.int32()),
]


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
    pair_fields = PAIR_FIELDS

    def template(self) -> str:
        return PROMPT + "\0" + ANSWER_HEADER

    def check(self, values: dict[str, Any]) -> list[Verdict]:
        return [check_text(values, "question"), check_text(values, "answer")]

    def rejected(self, values: dict[str, Any]) -> dict[str, Any]:
        return {"question": _text(values.get("question")), "reference": _text(values.get("answer"))}

    def render(self, values: dict[str, Any], variant: str = "") -> Request:
        return Request(prompt=PROMPT.format(question=values["question"]))

    def parse(
        self, values: dict[str, Any], completion: Completion, variant: str = "", first: Completion | None = None
    ) -> tuple[dict[str, Any], list[Verdict]]:
        fields = {"question": values["question"], "reference": values["answer"], "rationale": None, "answer": None}
        rationale, header, answer = completion.text.partition(ANSWER_HEADER)
        rationale, answer = rationale.strip(), answer.strip()
        if not header:
            why = "ran out of tokens" if completion.finish_reason == "length" else "stopped"
            return {**fields, "correct": None}, [
                Verdict("format", False, f"no {ANSWER_HEADER} section (the model {why})")
            ]
        if not rationale:
            return {**fields, "correct": None}, [Verdict("format", False, "empty rationale")]
        if not answer:
            return {**fields, "correct": None}, [Verdict("format", False, f"nothing after {ANSWER_HEADER}")]
        correct = answers_match(answer, values["answer"])
        return {**fields, "rationale": rationale, "answer": answer, "correct": correct}, [
            Verdict("format", True, "rationale and answer present")
        ]

    def pairs(self, samples: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The pairs rows for one question, from its sample rows (in sample order)."""
        graded = [s for s in samples if s["valid"]]
        correct = [(s["completion"], s) for s in graded if s["correct"]]
        incorrect = [(s["completion"], s) for s in graded if not s["correct"]]
        return [
            {
                "record_id": good["record_id"],
                "source_index": good["source_index"],
                "pair_idx": i,
                "question": good["question"],
                "reference": good["reference"],
                "prompt": PROMPT.format(question=good["question"]),
                "chosen": good["completion"],
                "rejected": bad["completion"],
                "chosen_sample_idx": good["sample_idx"],
                "rejected_sample_idx": bad["sample_idx"],
            }
            for i, (good, bad) in enumerate(unique_pairs(correct, incorrect))
        ]


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None
