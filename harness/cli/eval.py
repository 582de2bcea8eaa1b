"""`harness eval mmlu`: its flags are EvalConfig's (harness/config/commands.py); this prints the seed card's table."""

from __future__ import annotations

from harness.cli.errors import console, done
from harness.cli.options import command
from harness.cli.precedence import HarnessTyper
from harness.config import EvalConfig
from harness.cost import describe
from harness.stages.registry import run_stage

eval_app = HarnessTyper(
    help="Evaluate a model on a benchmark through lm-eval, offline; one row per question as Parquet.",
    no_args_is_help=True,
)


def _eval_mmlu(cfg: EvalConfig) -> None:
    from reports.mmlu import rich_table

    run = run_stage("eval mmlu", cfg, console)
    console.print(rich_table(run.summary, run.title))
    line = f"{run.asked} questions asked in {run.seconds:.1f}s"
    if run.skipped:
        line += f"; {run.skipped} were already in the artifact"
    if run.cost:
        line += f"; cost {describe(run.cost)}"
    done(f"{line}. Table: {run.report}; summary: {run.summary_file}", run.output)


eval_app.command("mmlu")(
    command(
        EvalConfig,
        _eval_mmlu,
        """Evaluate a model on MMLU through lm-eval, offline, and print the seed card's table.

        Example: harness eval mmlu --subsets college_mathematics,high_school_psychology --limit 100 --seed 0 -o runs/mmlu
        """,
    )
)
