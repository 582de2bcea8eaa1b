"""`harness synth`: its flags are SynthConfig's (harness/config/commands.py); this prints what the stage did."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer
from rich.table import Table

from harness.cli.cost import cost_row, stop_if_budget
from harness.cli.errors import console
from harness.cli.options import command
from harness.config import SynthConfig
from harness.stages.registry import run_stage

if TYPE_CHECKING:
    from harness.stages.synth import SynthSummary


def _synth(cfg: SynthConfig) -> None:
    summary = run_stage("synth", cfg, console)
    console.print(summary_table(summary))
    typer.echo(summary.output)  # stdout carries only the artifact path, for scripts
    stop_if_budget(summary)


def summary_table(summary: SynthSummary) -> Table:
    table = Table(title="synth summary", show_header=False)
    table.add_row("rows this run", f"{summary.rows_in} in -> {summary.rows_out} out")
    if summary.rows_skipped:
        table.add_row("resumed", f"{summary.rows_skipped} rows were already done")
    table.add_row("valid", f"{summary.valid}/{summary.rows_out} ({summary.share_valid:.0%})")
    for reason, count in sorted(summary.rejection_reasons.items(), key=lambda kv: -kv[1]):
        table.add_row(f"  rejected: {reason}", str(count))
    if summary.retried_rows:
        table.add_row("retried", f"{summary.retried_rows} rows of earlier failed requests")
    if summary.engine_errors:
        table.add_row(
            "engine errors", f"{summary.engine_errors} rows failed after every retry; run again to retry them"
        )
    if summary.context_overflows:
        table.add_row(
            "past the context",
            f"{summary.context_overflows} rows: their prompt plus --max-tokens does not fit the model's context, and "
            "a rerun fails them again; shorten those input rows, or lower --max-tokens (vllm: raise --max-model-len) "
            "into a new --output (each row's rejection_reason gives its size)",
        )
    if "requests" in (usage := summary.engine_usage):  # a remote engine's own counts
        table.add_row(
            "requests",
            f"{usage['requests']} answered, {usage['retries']} retries, {usage['failed']} failed; "
            f"{usage['prompt_tokens']} prompt + {usage['completion_tokens']} completion tokens",
        )
    table.add_row(
        "generated",
        f"{summary.generated_tokens} tokens in {summary.seconds:.1f}s "
        f"({summary.tokens_per_second:.1f} tok/s); {summary.cache_hits} rows from cache",
    )
    cost_row(table, summary)
    share = summary.artifact_valid / summary.artifact_rows if summary.artifact_rows else 0.0
    table.add_row("artifact", f"{summary.output}/*.parquet: {summary.artifact_rows} rows, {share:.0%} valid")
    if summary.pairs_output:
        table.add_row("pairs", f"{summary.pairs_output}/*.parquet: {summary.pairs} (correct, incorrect) pairs")
    return table


synth = command(
    SynthConfig,
    _synth,
    """Generate reasoning traces for every input row and write them as Parquet shards.

    Example: harness synth --task backfill --input sample --limit 16 --output runs/demo
    """,
)
