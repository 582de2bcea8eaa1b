"""`harness train sft|grpo|rank|dpo`: TrainConfig's flags (harness/config/train.py), a recipe under them, and the
command's own: the decontamination gate and launching across processes."""

from __future__ import annotations

import shlex
from pathlib import Path

import typer
from rich.table import Table

from harness.cli.errors import console
from harness.cli.options import command
from harness.cli.precedence import HarnessTyper
from harness.config import TRAIN_METHODS, Flag, TrainConfig
from harness.config.engine import ACCELERATE_HELP, PROCESSES_HELP, TRAIN_SCALE
from harness.stages.registry import run_stage

train_app = HarnessTyper(
    help="Fine-tune a model on an artifact (TRL): sft, grpo, rank, dpo. Writes a model folder that synth and eval load.",
    no_args_is_help=True,
)
TRAIN_DOCS = {
    "sft": "Supervised fine-tuning on `messages` (or prompt/completion, or text) rows.",
    "grpo": "GRPO with our validators and verifiers as rewards (recipe: `rewards: {name: weight}`).",
    "rank": "The Memphis card's ranking loss on (prompt, chosen, rejected) pairs, plus cross-entropy on the gold "
    "rationale (else the chosen).",
    "dpo": "DPO on (prompt, chosen, rejected) pairs, e.g. a star `-pairs` artifact.",
}
# The command's own flags: how it runs, not what it trains (a TrainConfig setting would change the model's identity).
OWN = (
    Flag("--num-processes", type=int, panel=TRAIN_SCALE, help=PROCESSES_HELP),
    Flag("--accelerate-config", panel=TRAIN_SCALE, help=ACCELERATE_HELP),
    Flag("--allow-unchecked", type=bool,
         help="Take input that `harness decontam` never checked against the eval sets (MMLU)."),
)  # fmt: skip


def _bundled_recipes() -> str:
    """The names `--recipe` takes, from the recipes folder (found, not imported: --help stays instant)."""
    from importlib.util import find_spec

    folder = Path(find_spec("trainers").submodule_search_locations[0]) / "recipes"
    return ", ".join(sorted(p.stem for p in folder.glob("*.yaml")))


def _train(
    cfg: TrainConfig, num_processes, accelerate_config, allow_unchecked, recipe: str | None, line: list[str]
) -> None:
    from harness.cli.advice import without
    from harness.scale import distributed

    # The stage gates the resolved input (a flag or the recipe's `input:`), then trains here or launches N
    # processes (they run harness/cli/launched.py); the recipe's name goes in the provenance.
    scale = {"processes": num_processes, "accelerate_config": accelerate_config}
    rerun = shlex.join([*without(line, "--input")[0], "--input", "DIR"])  # the gate's advice: on decontam's output
    summary = run_stage(
        "train", cfg, console, recipe=recipe, allow_unchecked=bool(allow_unchecked), rerun=rerun, **scale
    )
    if not distributed.is_main():  # under accelerate launch, one process reports for all
        return
    table = Table(title=f"train {summary.method} summary", show_header=False)
    if summary.already_done:
        table.add_row("already trained", "this output holds the same run; nothing to do")
    skipped = summary.skipped_invalid + summary.skipped_by_task
    table.add_row("rows", f"{summary.rows} used" + (f", {skipped} skipped (invalid)" if skipped else ""))
    loss = "n/a" if summary.first_loss is None else f"{summary.first_loss:.4f} -> {summary.last_loss:.4f}"
    table.add_row("steps", f"{summary.steps} in {summary.seconds:.1f}s ({summary.seconds_per_step:.2f} s/step)")
    table.add_row("loss (first -> last logged)", loss)
    table.add_row("model", f"{summary.output} (harness-train.json, training_log.jsonl)")
    console.print(table)
    typer.echo(summary.output)  # stdout carries only the model folder, for scripts


def _load(method: str):
    def load(recipe: str | None, overrides: dict, line: list[str]) -> TrainConfig:
        from harness.stages.train import load_train_config

        def rerun(declared: str) -> str:
            """The command as typed, with the method the recipe declares (`harness train METHOD ...`)."""
            return shlex.join(["harness", "train", declared, *line[3:]])

        return load_train_config(method, recipe, overrides, rerun)

    return load


for _method in TRAIN_METHODS:
    train_app.command(_method)(
        command(
            TrainConfig,
            _train,
            f"{TRAIN_DOCS[_method]}\n\nExample: harness train {_method} --input runs/x --output runs/model --recipe FILE",
            fixed={"method": _method},
            own=OWN,
            file_param="recipe",
            loader=_load(_method),
            pass_file=True,
            pass_line=True,
            file_help=f"YAML recipe file or a bundled recipe ({_bundled_recipes()}); flags override it.",
        )  # fmt: skip
    )
