"""The task contract: what a task family needs from its input, how it prompts, how it reads the answer.

`render` and `parse` are pure functions of the row (and the completion): no model, no I/O. A new task is
one file in this folder plus one line in `tasks/__init__.py`.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from typing import Any

import pyarrow as pa

from harness.backends.base import Completion, Request, SamplingParams
from harness.records import Verdict


class Task(ABC):
    name: str
    version: str
    columns: dict[str, str]  # logical column -> the input column it is read from by default
    defaults: SamplingParams  # the recipe's sampling defaults; CLI flags override them
    fields: list[pa.Field]  # the task's own output columns

    @abstractmethod
    def template(self) -> str:
        """Every piece of prompt text the task uses; its hash identifies the prompt version."""

    def template_hash(self) -> str:
        return hashlib.sha256(f"{self.name}\0{self.version}\0{self.template()}".encode()).hexdigest()[:16]

    @abstractmethod
    def check(self, values: dict[str, Any]) -> list[Verdict]:
        """Verdicts on the input row itself; a failed one means the row is rejected without generating."""

    @abstractmethod
    def render(self, values: dict[str, Any]) -> Request:
        """The request for one row (values are the logical columns)."""

    @abstractmethod
    def parse(self, values: dict[str, Any], completion: Completion) -> tuple[dict[str, Any], list[Verdict]]:
        """The task's output fields and its verdicts for one completion. Never raises on model output."""

    def rejected(self, values: dict[str, Any]) -> dict[str, Any]:
        """Output fields for a row rejected before generation: the inputs as given, the rest empty."""
        return {f.name: (values.get(f.name) if isinstance(values.get(f.name), str) else None) for f in self.fields}
