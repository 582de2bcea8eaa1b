"""What the CLI says about a run's cost: the summary's line, and when `--max-cost` stopped the run, the budget,
the spend and the command that goes on (the command as typed, with a budget that should see it through)."""

from __future__ import annotations

import shlex
import sys
from typing import Any

import typer
from rich.markup import escape
from rich.table import Table

from harness.cli.errors import console
from harness.cost import BUDGET_EXIT, BudgetStop, describe


def cost_row(table: Table, summary: Any) -> None:
    """The summary's cost line: this run's spend, or nothing at all for an unpriced run."""
    if getattr(summary, "cost", None):
        table.add_row("cost", f"{describe(summary.cost)} this run")


def stop_if_budget(summary: Any, argv: list[str] | None = None) -> None:
    """After the summary: when --max-cost stopped the run, say so and exit with BUDGET_EXIT (the output is
    incomplete: a script must not take it for a finished one)."""
    stop: BudgetStop | None = getattr(summary, "budget_stop", None)
    if stop is None:
        return
    again = go_on_command(sys.argv[1:] if argv is None else argv, stop.next_budget())
    console.print(f"[yellow]stopped:[/yellow] {escape(stop.message(again))}", highlight=False, soft_wrap=True)
    raise typer.Exit(BUDGET_EXIT)


def go_on_command(argv: list[str], budget: float) -> str:
    """The command as it was typed, its --max-cost replaced by `budget` (a flag wins over the config file, so
    this holds when the budget came from the file too); leaving --max-cost out would finish as well."""
    kept: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--max-cost":
            skip = True
        elif not arg.startswith("--max-cost="):
            kept.append(arg)
    return shlex.join(["harness", *kept, "--max-cost", f"{budget:g}"])
