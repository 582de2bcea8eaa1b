"""The `harness` command line: one module per command group, in the order a dataset goes through them.

synth.py (synth); judge.py (judge, rescore, select, decontam); eval.py (eval mmlu); train.py (train METHOD); loop.py
(loop star|thought-ranking); run.py (run PIPELINE: stages and rounds as one resumable run); publish.py (report,
push, lineage). Each command's flags are made from its config model (options.py) and its work is its stage's
(harness/stages/registry.py); the command prints the summary. Known errors are one red line (errors.py); the precedence of flags over files is precedence.py's.
Heavy libraries (torch, transformers, datasets) are imported inside the stages, so `--help` is instant.
"""

from __future__ import annotations

import sys

import typer
from rich.markup import escape

from harness.cli import eval as eval_commands
from harness.cli import judge as judge_commands
from harness.cli import loop as loop_commands
from harness.cli import publish, synth, train
from harness.cli.errors import console
from harness.cli.precedence import HarnessGroup, HarnessTyper
from harness.cli.run import run


class LifecycleOrder(HarnessGroup):
    """`harness --help` lists the commands in the order a dataset goes through them."""

    ORDER = ("synth", "judge", "rescore", "select", "decontam", "eval", "train", "loop", "run", "report", "push",
             "lineage")  # fmt: skip

    def list_commands(self, ctx) -> list[str]:
        names = super().list_commands(ctx)
        return sorted(names, key=lambda n: self.ORDER.index(n) if n in self.ORDER else len(self.ORDER))

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        """A usage error (unknown or misspelled flag, a value of the wrong type) is one line on stderr naming
        the command and the flag, exit 2, like every other bad input; typer would draw a box around it."""
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode, **extra)
        click = _click_exceptions()
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.NoArgsIsHelpError:
            return super().main(args, prog_name, complete_var, standalone_mode, **extra)  # prints the help
        except click.UsageError as err:
            where = err.ctx.command_path if err.ctx else "harness"
            message = " ".join(err.format_message().split())
            console.print(f"[red]error:[/red] {where}: {escape(message)} (see {where} --help)", soft_wrap=True)
            sys.exit(err.exit_code)
        except click.ClickException as err:
            err.show()
            sys.exit(err.exit_code)
        except typer.Abort:
            console.print("Aborted.")
            sys.exit(1)
        sys.exit(code if isinstance(code, int) else 0)


def _click_exceptions():
    """Click's exception classes as typer raises them: recent typer versions carry their own copy of click."""
    try:
        from typer._click import exceptions
    except ImportError:
        from click import exceptions
    return exceptions


app = HarnessTyper(
    cls=LifecycleOrder,
    help="Synthesize, judge, evaluate and train on reasoning-trace datasets. Every stage reads and writes Parquet.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def main() -> None:
    """reasoning-harness: see `harness COMMAND --help`."""


app.command("synth")(synth.synth)
app.command("judge")(judge_commands.judge)
app.command("rescore")(judge_commands.rescore)
app.command("select")(judge_commands.select)
app.command("decontam")(judge_commands.decontam)
app.add_typer(eval_commands.eval_app, name="eval")
app.add_typer(train.train_app, name="train")
app.add_typer(loop_commands.loop_app, name="loop")
app.command("run")(run)
app.command("report")(publish.report)
app.command("push")(publish.push)
app.command("lineage")(publish.lineage)
TRAIN_DOCS = train.TRAIN_DOCS
