"""The environments' `verifiers` parser: the completion text as the task's verdicts read it, and its answer.

Apart from rubrics.py because it subclasses `verifiers.Parser`, so importing it imports `verifiers`."""

from __future__ import annotations

from typing import Any

import verifiers as vf

from harness.environments.rubrics import Family
from judges.verifiers import completion_text


class HarnessParser(vf.Parser):
    """`parse(text)`: the text the task's `parse` reads. A chat prompt cannot prime the assistant turn as
    `harness synth` does (backfill opens it with `<|thinking_start|>`), so a completion that writes the
    primer itself has it taken off. `parse_answer(completion)`: the answer in it (structured's `<output>`,
    star's answer, backfill's text after the trace), for people reading vf-eval's results."""

    def __init__(self, family: Family) -> None:
        super().__init__()
        self.family = family

    def parse(self, text: str) -> str:
        primer = self.family.primer.strip()
        if primer and text.lstrip().startswith(primer):
            return text.lstrip()[len(primer) :].lstrip("\n")
        return text

    def parse_answer(self, completion: Any) -> str | None:
        return self.family.answer_of(self.parse(completion_text(completion)))
