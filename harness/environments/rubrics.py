"""The harness's verifiers in a `verifiers` rubric: one reward function per verdict, with its weight.

Each function wraps the TRL reward the harness already has for that verdict (judges/structured_rewards.py,
judges/rewards.py, tasks/star.py), which calls the very function that decides the verdict in synth, judge and
eval (docs/verdicts.md). A TRL reward takes one list per column; here one completion and its row (the
dataset's `info`) make lists of one. `verifiers` needs a float, so a verdict that cannot apply to the row
(None in TRL) scores 0.0; the bundled rows give every column, so that happens only for a row without a gold.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from judges.rewards import verdict_reward
from judges.structured_format import FORMAT_RULES, parse_trace
from judges.structured_rewards import structured_rewards
from judges.verifiers import completion_text
from tasks.backfill import PRIMER, THINKING_END
from tasks.base import Task
from tasks.star import split_completion, star_correct

# The structured-grpo recipe's weights (trainers/recipes/structured-grpo.yaml): every card rule 1.0, correctness
# 2.0. Star: correctness only (its format is implied: a completion without an answer is not right), format
# logged at weight 0. Backfill: its four verdicts, a quarter each (1.0 when the trace is valid).
STRUCTURED_WEIGHTS = {**{f"structured_{rule.__name__}": 1.0 for rule in FORMAT_RULES}, "structured_correct": 2.0}
STAR_WEIGHTS = {"star_correct": 1.0, "star_format": 0.0}
BACKFILL_VERDICTS = ("markers", "trace_nonempty", "trace_reasoning", "solution_preserved")
BACKFILL_WEIGHTS = {f"backfill_{verdict}": 0.25 for verdict in BACKFILL_VERDICTS}


class RubricFunction:
    """One verdict as a `verifiers` reward function: `fn(completion, info, parser) -> float`.

    A class, not a closure, so it pickles and `__name__` names it in vf-eval's metrics; `verifiers` passes
    only the arguments `__call__` names."""

    def __init__(self, name: str, reward: Callable[..., list[float | None]], columns: Sequence[str]) -> None:
        self.__name__ = name
        self.reward = reward
        self.columns = tuple(columns)

    def __repr__(self) -> str:
        return f"RubricFunction({self.__name__})"

    def __call__(self, completion: Any, info: Mapping[str, Any], parser: Any = None) -> float:
        text = parser.parse(completion_text(completion)) if parser is not None else completion_text(completion)
        score = self.reward([text], **{c: [info.get(c)] for c in self.columns})[0]
        return 0.0 if score is None else float(score)


@dataclass(frozen=True)
class Family:
    """What one task family's environment is made of (beside the task itself)."""

    message_type: str  # "chat" (system and user turns) or "completion" (the task's raw prompt)
    primer: str  # what the task primes the assistant turn with; chat prompts cannot, so the parser drops it
    answer_of: Callable[[str], str | None]  # the answer in a completion, for people (vf-eval's view)


def _structured_answer(text: str) -> str | None:
    return parse_trace(text).output


def _star_answer(text: str) -> str | None:
    _, answer, verdict = split_completion(text)
    return answer if verdict.passed else None


def _backfill_answer(text: str) -> str | None:
    end = THINKING_END.search(text)
    return text[end.end() :].strip() if end else None


FAMILIES = {
    "structured": Family("chat", "", _structured_answer),
    "star": Family("completion", "", _star_answer),
    "backfill": Family("chat", PRIMER, _backfill_answer),
}


def rubric_functions(task: Task) -> list[tuple[RubricFunction, float]]:
    """(function, weight) for each verdict of the task's family, in the order the task gives them."""
    columns = tuple(task.columns)
    if task.name == "structured":
        rewards = structured_rewards(task.settings)
        return [(RubricFunction(r.__name__, r, columns), STRUCTURED_WEIGHTS[r.__name__]) for r in rewards]
    if task.name == "star":
        return [
            (RubricFunction("star_correct", star_correct, columns), STAR_WEIGHTS["star_correct"]),
            (RubricFunction("star_format", verdict_reward(task, "format"), columns), STAR_WEIGHTS["star_format"]),
        ]
    if task.name == "backfill":
        return [
            (RubricFunction(name, verdict_reward(task, verdict), columns), BACKFILL_WEIGHTS[name])
            for verdict in BACKFILL_VERDICTS
            if (name := f"backfill_{verdict}")
        ]
    raise ValueError(f"no environment for the {task.name} task; environments: {', '.join(FAMILIES)}")
