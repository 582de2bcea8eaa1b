"""`harness loop star|thought-ranking`: rounds that each train on the last round's model.

Each runs its card's shipped pipeline (harness/pipeline/loops.py: memphis, thought-ranking) with the loop's flags,
which are LoopConfig's and ThoughtRankingConfig's (harness/config/train.py); this prints one row per round.
"""

from __future__ import annotations

import typer
from rich.markup import escape
from rich.table import Table

from harness.cli.errors import console
from harness.cli.options import command
from harness.cli.precedence import HarnessTyper
from harness.config import LoopConfig, ThoughtRankingConfig
from harness.cost import describe

loop_app = HarnessTyper(
    help="Self-improvement loops: synth -> verify/judge -> select -> train, for N rounds, every round kept.",
    no_args_is_help=True,
)
LOOP_FILE_HELP = "YAML loop config; flags given on the command line override it."


def print_rounds(links: dict, title: str) -> None:
    """One line per round of loop.json's table (the starting model first when measured), then the result."""
    table = Table(title=title)
    rows = links["table"]
    measured = any(r.get("accuracy") is not None for r in rows)
    for column in ("round", "valid share", "training rows", "loss", *(["accuracy"] if measured else []), "model"):
        table.add_column(column)
    for r in rows:
        cells = [_shown(r.get(k)) for k in ("valid_share", "training_rows", "loss")]
        accuracy = [f"{_shown(r.get('accuracy'))} ({r.get('questions')} q)"] if measured else []
        table.add_row("start" if r["round"] == 0 else str(r["round"]), *cells, *accuracy, str(r.get("model") or "-"))
    console.print(table)
    if links["keep"] == "best" and links["final_model"]:
        console.print(f"kept the most accurate round's model: {escape(links['final_model'])}", highlight=False)
    if links["stopped"]:
        console.print(f"[yellow]stopped early:[/yellow] {escape(links['stopped'])}", highlight=False)
    if links.get("cost"):
        console.print(f"cost: {describe(links['cost'])}, every round's stages", highlight=False)


def _shown(value: object) -> str:
    return "-" if value is None else f"{value:.3f}" if isinstance(value, float) else str(value)


def _finish(run, title: str) -> None:
    print_rounds(run.rounds, title)
    typer.echo(run.rounds["final_model"] or run.output)  # stdout: the last trained model, for scripts


def _star(cfg: LoopConfig) -> None:
    from harness.pipeline.loops import run_star_loop

    _finish(run_star_loop(cfg, console), "loop star summary")


def _thought_ranking(cfg: ThoughtRankingConfig) -> None:
    from harness.pipeline.loops import run_thought_ranking_loop

    _finish(run_thought_ranking_loop(cfg, console), "loop thought-ranking summary")


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
