"""Known errors as one red line and exit code 2, never a traceback: the one place the CLI turns them so."""

from __future__ import annotations

import errno
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

import typer
from rich.console import Console
from rich.markup import escape

console = Console(stderr=True)  # every command's messages; stdout carries only its result (a path or URL)

# OS errors that describe the machine (no space, no permission, a file where a folder belongs), not a bug.
FULL = {errno.ENOSPC, errno.EDQUOT}
ENVIRONMENT_ERRNOS = FULL | {errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOTDIR, errno.EISDIR, errno.ENAMETOOLONG}


def _user_errors() -> tuple[type[Exception], ...]:
    """The error types whose message is the whole story (bad input, config, artifact, model, engine, Hub)."""
    from harness.artifacts.sources import InputError
    from harness.artifacts.writer import ArtifactError
    from harness.config import ConfigError
    from harness.engines.base import EngineError, UnsupportedParameter
    from harness.engines.models import ModelNotFound
    from harness.hub import HubError

    return InputError, ConfigError, ArtifactError, ModelNotFound, EngineError, UnsupportedParameter, HubError


def _say(message: str) -> None:
    console.print(f"[red]error:[/red] {escape(message)}", highlight=False, soft_wrap=True)


@contextmanager
def reported_errors(line: list[str] | None = None) -> Iterator[None]:
    """Run a command's work; a known error becomes one red line on stderr and exit code 2. `line`: the command
    as typed, for advice that repeats it."""
    from harness.cost import BUDGET_EXIT, BudgetReached
    from harness.engines.base import DataParallelRefused

    try:
        yield
    except DataParallelRefused as err:
        from harness.cli.advice import data_parallel

        _say(data_parallel(err, line) if line else str(err))
        raise typer.Exit(2) from None
    except BudgetReached as err:
        console.print(f"[yellow]stopped:[/yellow] {escape(str(err))}", highlight=False, soft_wrap=True)
        raise typer.Exit(BUDGET_EXIT) from None
    except _user_errors() as err:
        from harness.scale import distributed

        if distributed.is_main():  # across processes, every one stops with the same error: say it once
            _say(str(err))
        raise typer.Exit(2) from None
    except OSError as err:
        if err.errno not in ENVIRONMENT_ERRNOS:
            raise
        where = f"{err.filename}: " if err.filename else ""
        hint = "; free some space and run the same command again: it resumes" if err.errno in FULL else ""
        _say(where + (err.strerror or str(err)) + hint)
        raise typer.Exit(2) from None
    except sqlite3.OperationalError as err:
        if "disk" not in str(err):
            raise
        from harness.engines.cache import cache_dir  # the generation cache's disk is full

        _say(f"generation cache in {cache_dir()}: {err}")
        raise typer.Exit(2) from None


def done(line: str, result: object) -> None:
    """A command's one-line summary on stderr; stdout carries only its result (a path or URL), for scripts."""
    console.print(line, highlight=False, soft_wrap=True)
    typer.echo(result)
