"""Any task's validators as TRL reward functions: `fn(completions, **columns) -> list[float | None]`.

The reward runs the task's own `parse`, so the check that filters rows in `synth`/`judge` is exactly the one
that rewards in GRPO. TRL passes the dataset's columns as keyword lists; the task's logical columns must be
among them (rename them in the dataset if needed).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from judges.format_check import check_format
from judges.verifiers import completion_text
from tasks.base import Task


def verdict_reward(task: Task, verdict: str | None = None) -> Callable[..., list[float | None]]:
    """1.0 when the named verdict passed (all verdicts, when none is named), else 0.0; None if it was not
    reached (an earlier check failed first, so this one says nothing about the completion)."""

    def reward(completions: list, **columns: Any) -> list[float | None]:
        missing = [c for c in task.columns if c not in columns]
        if missing:
            raise ValueError(f"reward {reward.__name__} needs the dataset column(s) {missing}")
        return [
            check_format(task, {c: columns[c][i] for c in task.columns}, completion_text(completion), verdict).score
            for i, completion in enumerate(completions)
        ]

    reward.__name__ = f"{task.name}_{verdict or 'valid'}".replace("-", "_")  # TRL logs rewards by name
    return reward
