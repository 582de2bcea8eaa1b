"""The judges `harness judge --judge NAME` knows: deterministic verifiers and LLM judges.

A verifier is a `check(prediction, *columns) -> Checked` over logical columns that the judge stage maps onto
the artifact's columns (see `harness judge --help` and README). `format` is special: it runs the task that
wrote the row. LLM judges read `question` and `response` and need an engine.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from judges.math_answer import check_math
from judges.multiple_choice import check_choice
from judges.reasoning_gym_answer import check_reasoning_gym
from judges.structured_format import check_answer as check_structured_answer
from judges.verifiers import Check, check_exact, check_regex


@dataclass(frozen=True)
class VerifierSpec:
    check: Check
    columns: tuple[str, ...]  # logical columns after the prediction, in the check's argument order
    optional: tuple[str, ...] = ()  # logical columns passed as None when the input has none
    package: tuple[str, str] | None = None  # (module, distribution) it needs beyond the core install
    # The synth task families whose rows hold what it reads (None: any). backfill rows have no gold answer:
    # their `solution` is the input the trace leads to, not something to check a prediction against.
    tasks: tuple[str, ...] | None = None
    # A family whose own verdict this judge repeats decides it with that verdict's function, so judge and synth
    # agree: `mc` on structured rows is the task's `correct` (only an option number in <output>, rule 7).
    by_task: Mapping[str, Check] = field(default_factory=dict)

    def check_for(self, task: str | None) -> Check:
        """The check for rows of this synth task (None: unknown)."""
        return self.by_task.get(task or "", self.check)


ANSWERING_TASKS = ("star", "structured", "reasoning-token", "thought-variants")


VERIFIERS: dict[str, VerifierSpec] = {
    "mc": VerifierSpec(
        check_choice,
        ("gold",),
        ("choices",),
        tasks=("structured", "star"),
        by_task={"structured": check_structured_answer},
    ),  # star: A-D answers, read leniently (parse_choice)
    "math": VerifierSpec(check_math, ("gold",), package=("math_verify", "math-verify"), tasks=ANSWERING_TASKS),
    "exact": VerifierSpec(check_exact, ("gold",), tasks=ANSWERING_TASKS),
    "regex": VerifierSpec(check_regex, ("gold", "pattern")),
    "reasoning-gym": VerifierSpec(
        check_reasoning_gym, ("generator", "seed", "index"), ("config",), package=("reasoning_gym", "reasoning-gym")
    ),
}
FORMAT = "format"
LLM_JUDGES = ("score", "pairwise", "rank")
ALL_JUDGES = (*VERIFIERS, FORMAT, *LLM_JUDGES)


def missing_package(judge: str) -> str | None:
    """The distribution a verifier needs and cannot import here (None: nothing missing)."""
    import importlib.util

    spec = VERIFIERS.get(judge)
    if spec is None or spec.package is None:
        return None
    module, distribution = spec.package
    return None if importlib.util.find_spec(module) is not None else distribution


def column_name(judge: str) -> str:
    """The judge's name in column names and in judge_summary.json: `reasoning-gym` -> `reasoning_gym`."""
    return judge.replace("-", "_")
