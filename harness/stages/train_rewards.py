"""GRPO rewards by name: the same validators and verifiers that filter rows in synth and judge.

Names:
- `structured_<rule>`: one structured-card rule (`structured_structure`, ..., `structured_correct`)
- `exact_answer`: the completion equals the `answer` column (judges.verifiers)
- `mc_answer`, `math_answer`, `regex_answer`, `reasoning_gym_answer`: the judge stage's verifiers (judges/)
- `star_correct`: star's `correct` on the whole completion (its answer after `### Answer:`, tasks/star.py)
- `TASK` or `TASK:VERDICT`: any task's verdicts (all of them, or the named one), e.g. `star:format`
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from harness.config import ConfigError
from judges.math_answer import math_answer
from judges.multiple_choice import mc_answer
from judges.reasoning_gym_answer import reasoning_gym_answer
from judges.rewards import verdict_reward
from judges.structured_rewards import structured_rewards
from judges.verifiers import exact_answer, regex_answer
from tasks import TASKS, get_task
from tasks.star import star_correct  # star's `correct`, decided as synth's parse and the `exact` judge decide it

# The verifiers `harness judge` runs, by their TRL names.
VERIFIER_REWARDS = {
    f.__name__: f for f in (exact_answer, mc_answer, math_answer, regex_answer, reasoning_gym_answer, star_correct)
}


def resolve_rewards(names: list[str], task: Any = None) -> list[Callable]:
    """One reward function per name, in order. `task`: the recipe's task object, whose settings (e.g. the
    structured task's tokenizer) the structured rules use."""
    settings = getattr(task, "settings", None) if getattr(task, "name", None) == "structured" else None
    structured = {r.__name__: r for r in structured_rewards(settings)}
    known = [*structured, *VERIFIER_REWARDS, *(f"{t}[:VERDICT]" for t in TASKS)]
    rewards = []
    for name in names:
        task_name, _, verdict = name.partition(":")
        if name in structured:
            rewards.append(structured[name])
        elif name in VERIFIER_REWARDS:
            rewards.append(VERIFIER_REWARDS[name])
        elif task_name in TASKS:
            if get_task(task_name).two_step:
                raise ConfigError(
                    f"rewards: {name!r}: {task_name} is a two-step task, its verdicts read both generations and a "
                    "GRPO completion is one; use a verifier reward (exact_answer, math_answer, ...) instead"
                )
            rewards.append(
                verdict_reward(
                    task if getattr(task, "name", None) == task_name else get_task(task_name), verdict or None
                )
            )
        else:
            raise ConfigError(f"rewards: unknown reward {name!r}; rewards are: {', '.join(known)}")
    return rewards
