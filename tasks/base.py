"""The task contract: what a task family needs from its input, how it prompts, how it reads the answer.

`render` and `parse` are pure functions of the row (and the completion): no model, no I/O. A new task is
one file in this folder plus one line in `tasks/__init__.py`.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from typing import Any

import pyarrow as pa

from harness.artifacts.schemas import Verdict
from harness.engines.base import Completion, Request, SamplingParams


def check_text(values: dict[str, Any], column: str) -> Verdict:
    """The common input check: the column holds non-empty text."""
    value = values.get(column)
    if not isinstance(value, str):
        reason = "missing from this row" if value is None else f"expected text, got {type(value).__name__}"
        return Verdict(f"input_{column}", False, reason)
    if not value.strip():
        return Verdict(f"input_{column}", False, "empty")
    return Verdict(f"input_{column}", True, "ok")


class Task(ABC):
    name: str
    version: str
    columns: dict[str, str]  # logical column -> the input column it is read from by default
    # The logical columns that typed inputs (Parquet, datasets) must declare as text; None: all of them.
    text_columns: tuple[str, ...] | None = None
    defaults: SamplingParams  # the recipe's sampling defaults; CLI flags override them
    fields: list[pa.Field]  # the task's own output columns
    sampling_from_model: bool = False  # the recipe samples with the model's generation_config.json (over defaults)
    two_step: bool = False  # True: each first completion is sent back (`follow_up`) for a second generation
    first_columns: tuple[str, ...] = ()  # two-step tasks: the output columns `first_from_output` reads
    pair_fields: list[pa.Field] | None = None  # set by tasks that also write a (chosen, rejected) pairs artifact

    @abstractmethod
    def template(self) -> str:
        """Every piece of prompt text the task uses; its hash identifies the prompt version."""

    def template_hash(self) -> str:
        return hashlib.sha256(f"{self.name}\0{self.version}\0{self.template()}".encode()).hexdigest()[:16]

    @abstractmethod
    def check(self, values: dict[str, Any]) -> list[Verdict]:
        """Verdicts on the input row itself; a failed one means the row is rejected without generating."""

    def variants(self, values: dict[str, Any]) -> list[str]:
        """The branches one row fans out into (e.g. 62 forced thought prefixes); one, unnamed, by default."""
        return [""]

    @abstractmethod
    def render(self, values: dict[str, Any], variant: str = "") -> Request:
        """The (first) request for one row and variant (values are the logical columns)."""

    def follow_up(self, values: dict[str, Any], variant: str, first: Completion) -> Request:
        """Two-step tasks: the second request, built from the first completion."""
        raise NotImplementedError(f"task {self.name} has a single step")

    def follow_up_params(self, params: SamplingParams) -> SamplingParams:
        """Two-step tasks: sampling for the second step (always one sample per first completion)."""
        raise NotImplementedError(f"task {self.name} has a single step")

    @abstractmethod
    def parse(
        self, values: dict[str, Any], completion: Completion, variant: str = "", first: Completion | None = None
    ) -> tuple[dict[str, Any], list[Verdict]]:
        """The task's output fields and verdicts for one (final) completion; `first` is a two-step task's first
        completion. Never raises on model output."""

    def first_from_output(self, row: dict[str, Any]) -> Completion:
        """Two-step tasks: the first step's completion as `parse` reads it, rebuilt from one output row of a
        generated record (`first_columns`), so `harness rescore` can run `parse` again. Each task says why its
        rebuild gives `parse` the same fields and verdicts as the completion it had."""
        raise NotImplementedError(f"task {self.name} has a single step")

    def parse_stored(self, row: dict[str, Any]) -> tuple[dict[str, Any], list[Verdict]]:
        """`parse` again on one of this task's stored output rows, which holds a completion: `harness rescore`
        and `harness judge --judge format` both call it, so their verdicts are synth's. A two-step task's first
        step is rebuilt by `first_from_output`, and the second's tokens are the row's less the first's (synth
        stores both steps' sum). A row with no finish reason (not written by synth) is taken to have stopped."""
        first = self.first_from_output(row) if self.two_step else None
        tokens = (row.get("completion_tokens") or 0) - (first.completion_tokens if first else 0)
        completion = Completion(
            row["completion"], row.get("finish_reason") or "stop", row.get("prompt_tokens") or 0, tokens,
            row.get("sample_idx") or 0,
        )  # fmt: skip
        variant = row.get("variant") or ""
        return self.parse(self.values_from_output(row), completion, variant=variant, first=first)

    def pairs(self, samples: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Tasks with `pair_fields`: the pairs rows for one record, from all its output rows."""
        raise NotImplementedError(f"task {self.name} writes no pairs")

    def values_from_output(self, row: dict[str, Any]) -> dict[str, Any]:
        """The logical input columns, read back from one of this task's output rows (judge, select). Tasks
        whose output keeps an input under another name (star's gold answer is `reference`) override this."""
        return {column: row.get(column) for column in self.columns}

    def canonical_values(self, values: dict[str, Any]) -> dict[str, Any]:
        """The logical columns of a row that passed `check`, each in one type for every row (a dataset column
        holds one type): grpo stores them for its rewards. Tasks whose columns take several forms override."""
        return values

    def rejected(self, values: dict[str, Any]) -> dict[str, Any]:
        """Output fields for a row rejected before generation: the inputs as given, the rest empty."""
        return {f.name: (values.get(f.name) if isinstance(values.get(f.name), str) else None) for f in self.fields}
