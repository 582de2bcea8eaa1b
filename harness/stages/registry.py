"""Every stage by its command's name: its config model and its one entry point, `run(config, console)`.

A stage reads its input(s), writes its output artifact and returns a summary of what it did. The CLI (and a
pipeline runner) call a stage only through `run_stage`, so each runs, streams, scales and resumes the same
way whoever starts it. Modules are imported when a stage runs: `harness --help` stays instant.
"""

from __future__ import annotations

import importlib
from typing import Any

from pydantic import BaseModel
from rich.console import Console

# name -> the stage's entry point, `module:function`, called as function(config, console)
STAGES = {
    "synth": "harness.stages.synth:run_synth",
    "judge": "harness.stages.judge:run_judge",
    "select": "harness.stages.select:run_select",
    "rescore": "harness.stages.rescore:run_rescore",
    "decontam": "harness.stages.decontam:run_decontam",
    "eval mmlu": "harness.stages.eval_mmlu:run_eval_mmlu",
    "train": "harness.stages.train:run_train",
    "report": "harness.stages.report:run_report",
    "push": "harness.stages.push:run_push",
    "lineage": "harness.stages.lineage:run_lineage",
}


def run_stage(name: str, config: BaseModel, console: Console | None = None, **context: Any) -> Any:
    """Run stage `name` on its config; returns its summary. The entry point is looked up at each call.
    `context`: what the stage records in its provenance besides the config (train: the recipe's name)."""
    module, function = STAGES[name].split(":")
    return getattr(importlib.import_module(module), function)(config, console, **context)
