"""`verifiers` environments for the task families with a checkable answer or format: `structured`, `star`,
`backfill`. `load_environment(task, **kwargs)` returns a `verifiers.SingleTurnEnv` made of the task's own
prompt (the card's, as `harness synth` renders it), its sampling, a parser, and a rubric whose functions are
the harness's verifiers with stated weights (harness/environments/rubrics.py), so `vf-eval`, prime-rl or any
`verifiers` trainer scores completions exactly as `harness judge` and `harness train grpo` do.

Data: the bundled rows of harness/data/ by default (no hub download), or `data=` any input `harness synth`
reads. `vf-eval harness-structured` finds it through the small packages in environments/ (docs/verdicts.md).

A floor of its own, above tasks/ and judges/: it imports them and the core, and nothing imports it. It needs
the `environments` extra (`pip install 'reasoning-harness[environments]'`).
"""

from __future__ import annotations

from importlib.resources import files
from typing import Any

from harness.artifacts.sources import open_source
from harness.environments.rubrics import FAMILIES, Family, rubric_functions
from tasks import get_task
from tasks.base import Task

ENVIRONMENTS = tuple(FAMILIES)
BUNDLED = {
    "structured": "structured_mc_tiny.jsonl",
    "star": "star_demo.jsonl",
    "backfill": "backfill_sample.jsonl",
}


def load_environment(
    task: str = "structured",
    data: str | None = None,
    limit: int | None = None,
    task_options: dict[str, Any] | None = None,
    **kwargs: Any,
):
    """The `verifiers` environment of a task family. `data`: an input file, folder or hub dataset id (default:
    the bundled rows); `limit`: the first N rows; `task_options`: the task's own options (e.g. structured's
    `tokenizer`); other keyword arguments go to `verifiers.SingleTurnEnv`."""
    if task not in FAMILIES:
        raise ValueError(f"no verifiers environment for task {task!r}; environments: {', '.join(ENVIRONMENTS)}")
    if limit is not None and (not isinstance(limit, int) or limit < 1):
        raise ValueError(f"limit must be a positive integer, got {limit!r}")
    import verifiers as vf
    from datasets import Dataset

    from harness.environments.parser import HarnessParser

    family = FAMILIES[task]
    the_task = get_task(task, **(task_options or {}))
    rows = dataset_rows(the_task, family, data or str(files("harness") / "data" / BUNDLED[task]), limit)
    parser = HarnessParser(family)
    functions = rubric_functions(the_task)
    rubric = vf.Rubric(funcs=[f for f, _ in functions], weights=[w for _, w in functions], parser=parser)
    dataset = Dataset.from_list(rows)
    sampling = the_task.defaults
    settings: dict[str, Any] = {
        "eval_dataset": dataset,
        "parser": parser,
        "rubric": rubric,
        "message_type": family.message_type,
        "sampling_args": {
            "temperature": sampling.temperature,
            "top_p": sampling.top_p,
            "max_tokens": sampling.max_tokens,
        },
        "env_id": f"harness-{task}",
    }
    return vf.SingleTurnEnv(**{**settings, **kwargs})


def dataset_rows(task: Task, family: Family, data: str, limit: int | None) -> list[dict[str, Any]]:
    """The environment's rows: the prompt as the task renders it, the gold as text (`answer`) and the task's
    columns (`info`, which the rubric reads). A row the task's input checks reject is an error naming it."""
    source = open_source(data, task.columns, text_columns=task.text_columns)
    rows = []
    for row in source.rows():
        if limit is not None and len(rows) >= limit:
            break
        failed = [f"{v.name}: {v.reason}" for v in task.check(row.values) if not v.passed]
        if failed:
            raise ValueError(f"{source.label}, row {row.index}: {'; '.join(failed)}")
        values = task.canonical_values(row.values)
        request = task.render(values)
        prompt = [dict(m) for m in request.messages] if family.message_type == "chat" else request.prompt
        rows.append({"prompt": prompt, "answer": gold_text(task, values), "info": values, "example_id": row.index})
    if not rows:
        raise ValueError(f"{source.label}: no rows")
    return rows


def gold_text(task: Task, values: dict[str, Any]) -> str:
    """The gold as `verifiers` shows it: structured's 1-based option number, star's answer, backfill's solution."""
    if task.name == "structured":
        return str(values["answer"] + 1)  # canonical_values keeps the 0-based index
    return str(values["answer"] if task.name == "star" else values["solution"])
