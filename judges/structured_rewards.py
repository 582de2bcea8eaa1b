"""Validators as TRL reward functions: `reward(completions, **columns) -> list[float | None]`.

A rule that gives a verdict on one parsed completion becomes a reward by running it on each completion of a
batch: 1.0 when the verdict passes, 0.0 when it fails, None when the rule does not apply to that row (TRL
then leaves that reward out for the sample). The rule code is the very code the task uses for its verdicts.

Completions are strings, or (conversational prompts) lists of messages whose last assistant message is the
completion. Columns arrive as TRL sends them: one list per dataset column, one value per completion; extra
keyword arguments (prompts, completion_ids, trainer_state, ...) are ignored.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from judges.structured_format import FORMAT_RULES, Rule, Settings, Trace, correct, parse_trace
from judges.verifiers import completion_text

ROW_COLUMNS = ("question", "choices", "answer")  # the columns the rules read, when the batch has them


class VerdictReward:
    """One rule as a reward. A class, not a closure, so it pickles; `__name__` names it in TRL's logs."""

    def __init__(self, rule: Rule, settings: Settings | None = None, prefix: str = "structured_") -> None:
        self.rule = rule
        self.settings = settings or Settings()
        self.__name__ = f"{prefix}{rule.__name__}"

    def __repr__(self) -> str:
        return f"VerdictReward({self.__name__})"

    def __call__(self, completions: Sequence[Any], **columns: Any) -> list[float | None]:
        rows = _rows(len(completions), columns)
        rewards: list[float | None] = []
        for completion, row in zip(completions, rows, strict=True):
            verdict = self.rule(_parse(completion), row, self.settings)
            rewards.append(None if verdict is None else float(verdict.passed))
        return rewards


def structured_rewards(settings: Settings | None = None, with_correctness: bool = True) -> list[VerdictReward]:
    """One reward per card rule (and the correctness reward): pass the list as GRPOTrainer's `reward_funcs`."""
    settings = settings or Settings()
    rules = (*FORMAT_RULES, correct) if with_correctness else FORMAT_RULES
    return [VerdictReward(rule, settings) for rule in rules]


def _parse(completion: Any) -> Trace:
    return parse_trace(completion_text(completion))


def _rows(n: int, columns: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Per-completion rows from TRL's column lists (a column that is not a list of n values is left out)."""
    present: dict[str, Sequence[Any]] = {
        name: values
        for name in ROW_COLUMNS
        if isinstance(values := columns.get(name), Sequence) and not isinstance(values, str) and len(values) == n
    }
    return [{name: values[i] for name, values in present.items()} for i in range(n)]
