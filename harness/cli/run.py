"""`harness run PIPELINE --output DIR`: a lifecycle file (or a shipped pipeline's name) run stage by stage.

The runner is harness/pipeline/; this module parses the few flags of the run itself and prints where the
report is. `--list` prints the shipped pipelines, one per line, name first.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
import yaml

from harness.cli.errors import console, reported_errors
from harness.config.base import ConfigError


def run(
    pipeline: Annotated[str | None, typer.Argument(help="A pipeline YAML file, or a shipped pipeline's name.")] = None,
    output: Annotated[str | None, typer.Option("--output", "-o", help="The run's folder: one folder per stage, "
                                               "pipeline.json, the report. A rerun resumes it.")] = None,
    size: Annotated[str | None, typer.Option(help="One of the pipeline's sizes (default: tiny).")] = None,
    set_: Annotated[list[str] | None, typer.Option("--set", metavar="KEY=VALUE",
                                                   help="Change a size's value, e.g. --set limit=32.")] = None,
    list_: Annotated[bool, typer.Option("--list", help="Print the shipped pipelines, one per line.")] = False,
) -> None:  # fmt: skip
    """Run a lifecycle: named stages (any harness command with its settings) and rounds, resumable as a whole.

    Example: harness run demo --output runs/demo
    """
    from harness.pipeline.shipped import find_pipeline, shipped

    with reported_errors():
        if list_:
            for name, description in shipped().items():
                typer.echo(f"{name}\t{description}")
            return
        if pipeline is None or output is None:
            raise ConfigError("give a pipeline and --output, e.g. `harness run demo --output runs/demo`")
        from harness.pipeline.runner import run_pipeline

        result = run_pipeline(find_pipeline(pipeline), Path(output), size, _overrides(set_ or []), console)
        console.print(f"report: {result.report}", highlight=False, soft_wrap=True)
        typer.echo(result.output)  # stdout carries only the run's folder, for scripts


def _overrides(pairs: list[str]) -> dict[str, object]:
    """`--set KEY=VALUE` pairs; each VALUE is read as YAML (`32` is a number, `[a, b]` a list)."""
    values: dict[str, object] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ConfigError(f"--set {pair}: expected KEY=VALUE, e.g. --set limit=32")
        try:
            values[key.removeprefix("size.")] = yaml.safe_load(value)
        except yaml.YAMLError as err:
            raise ConfigError(f"--set {pair}: the value is not valid YAML") from err
    return values
