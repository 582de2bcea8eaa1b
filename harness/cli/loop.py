"""`harness loop star|thought-ranking`: rounds that each train on the last round's model.

Their flags are LoopConfig's and ThoughtRankingConfig's (harness/config/train.py); this prints one row per round.
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from harness.cli.errors import console
from harness.cli.options import command
from harness.cli.precedence import HarnessTyper
from harness.config import LoopConfig, ThoughtRankingConfig
from harness.cost import describe, folder_cost
from harness.stages.registry import run_stage

loop_app = HarnessTyper(
    help="Self-improvement loops: synth -> verify/judge -> select -> train, for N rounds, every round kept.",
    no_args_is_help=True,
)
LOOP_FILE_HELP = "YAML loop config; flags given on the command line override it."


def _print_rounds(summary, title: str, counts: dict[str, str]) -> None:
    """One line per round: the round's `counts` (heading -> record field), its training, its model."""
    table = Table(title=title)
    measured = summary.start_eval is not None
    for column in ("round", *counts, "steps", "loss (first -> last)", *(["accuracy"] if measured else []), "model"):
        table.add_column(column)
    if measured:
        start = summary.start_eval
        accuracy = f"{start['accuracy']:.3f} ({start['questions']} q)"
        table.add_row(
            "start", *["-"] * (len(counts) + 2), accuracy, str(summary.rounds[0].model_in if summary.rounds else "-")
        )
    for r in summary.rounds:
        loss = r.train.get("first_loss"), r.train.get("last_loss")
        shown = "-" if loss[0] is None else f"{loss[0]:.3f} -> {loss[1]:.3f}"
        cells = [str(getattr(r, name)) for name in counts.values()]
        accuracy = [f"{r.eval['accuracy']:.3f}" if r.eval else "-"] if measured else []
        table.add_row(str(r.round), *cells, str(r.train.get("steps", "-")), shown, *accuracy, r.model_out or "-")
    console.print(table)
    if cost := folder_cost(Path(summary.output)):
        console.print(f"cost: {describe(cost)}, every round's stages", highlight=False)
    if summary.keep == "best" and summary.final_model:
        console.print(f"kept the most accurate round's model: {escape(summary.final_model)}", highlight=False)
    if summary.stopped:
        console.print(f"[yellow]stopped early:[/yellow] {escape(summary.stopped)}", highlight=False)
    typer.echo(summary.final_model or summary.output)  # stdout: the last trained model, for scripts


def _star(cfg: LoopConfig) -> None:
    summary = run_stage("loop star", cfg, console)
    _print_rounds(summary, "loop star summary", {"samples": "rows", "valid": "valid", "pairs": "pairs_count"})


def _thought_ranking(cfg: ThoughtRankingConfig) -> None:
    summary = run_stage("loop thought-ranking", cfg, console)
    counts = {"variants": "rows", "valid": "valid", "ranked": "ranked", "sft rows": "selected"}
    _print_rounds(summary, "loop thought-ranking summary", counts)


loop_app.command("star")(
    command(
        LoopConfig,
        _star,
        """Memphis-CoT rounds: sample and verify rationales, pair correct with incorrect, train, repeat on the new model.

        Example: harness loop star --input sample --limit 20 --rounds 4 --output runs/star-loop
        """,
        file_help=LOOP_FILE_HELP,
    )
)
loop_app.command("thought-ranking")(
    command(
        ThoughtRankingConfig,
        _thought_ranking,
        """Thought-Ranked card rounds: thought variants, a judge ranks their answers blind to the thoughts, SFT on the
        best thought + answer per question, repeat on the new model.

        Example: harness loop thought-ranking --input questions.jsonl --rounds 4 --output runs/tr-loop
        """,
        file_help=LOOP_FILE_HELP,
    )
)
