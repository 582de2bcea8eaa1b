"""A task's own validators as one verifier: re-run the task's `parse` on a completion, keep its verdicts.

The same check is `judges.rewards.verdict_reward` for TRL (a completion's text); `check_row` is the judge's, on a
stored row, whose own finish reason and token counts it reads. Here it also says which verdict failed.
"""

from __future__ import annotations

from typing import Any

from harness.artifacts.schemas import Verdict
from harness.engines.base import Completion
from judges.verifiers import Checked
from tasks.base import Task


def check_format(
    task: Task, values: dict[str, Any], text: str, verdict: str | None = None, finish_reason: str | None = None
) -> Checked:
    """1.0 when every verdict (or the named one) passed, 0.0 when one failed, None when none was reached.

    TRL gives only the text: without a finish reason, the completion is taken to have ended its turn."""
    _, verdicts = task.parse(values, Completion(text, finish_reason or "stop", 0, 0))
    return verdicts_checked(verdicts, verdict)


def check_row(task: Task, row: dict[str, Any]) -> Checked:
    """`check_format` of a stored output row of `task` (`Task.parse_stored`: its finish reason and token
    counts; a two-step task's first step rebuilt from its columns): `harness judge --judge format`."""
    _, verdicts = task.parse_stored(row)
    return verdicts_checked(verdicts)


def verdicts_checked(verdicts: list[Verdict], verdict: str | None = None) -> Checked:
    found = [v for v in verdicts if verdict is None or v.name == verdict]
    if not found:
        return Checked(None, f"verdict {verdict!r} not reached" if verdict else "no verdicts")
    failed = next((v for v in found if not v.passed), None)
    if failed is not None:
        return Checked(0.0, f"{failed.name}: {failed.reason}")
    return Checked(1.0, f"{len(found)} verdict(s) passed")
