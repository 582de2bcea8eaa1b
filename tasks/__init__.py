"""Task families. Each is one small file; register it here with one line."""

from __future__ import annotations

import importlib

from tasks.base import Task

TASKS = {
    "backfill": "tasks.backfill:BackfillTask",
    "thought-variants": "tasks.thought_variants:ThoughtVariantsTask",
    "reasoning-token": "tasks.reasoning_token:ReasoningTokenTask",
    "star": "tasks.star:StarTask",
    "structured": "tasks.structured:StructuredTask",
}


def get_task(name: str, **options) -> Task:
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; tasks are: {', '.join(sorted(TASKS))}")
    module, cls = TASKS[name].split(":")
    task_class = getattr(importlib.import_module(module), cls)
    try:
        return task_class(**options)
    except TypeError as err:
        raise ValueError(f"task {name!r} does not take the option(s) {sorted(options)}") from err
