"""Which flags the user typed: the one place the CLI's precedence rule lives.

THE RULE (every command; its settings file is `--config`, or `train --recipe`):

    a flag typed on the command line  >  the YAML file  >  the config model's built-in default

A flag's default (what `--help` shows) never overrides the file. `HarnessCommand` enforces it: after parsing,
every option the user did not type reaches the command as None, and `harness.config.load_config` skips None.
Commands are made from their config models (harness/cli/options.py), so a new setting is a new field there
and obeys the rule with no code of its own (tests/unit/test_config_precedence.py runs every setting through
every command).
"""

from __future__ import annotations

from typing import Any

import typer
from typer.core import TyperCommand, TyperGroup

# Parameters naming a YAML file of settings: a command that has one gets only the flags the user typed.
SETTINGS_FILE_PARAMS = ("config", "recipe")
# click's ParameterSource names for a value nobody typed (typer ships its own copy of click: compare names).
NOT_TYPED = ("DEFAULT", "DEFAULT_MAP")
# Options whose value may be left out, and the value they then take: click options take a value or none, never
# an optional one, so the value is put in before click reads the line (`--ray` alone is `--ray auto`).
OPTIONAL_VALUES = {"--ray": "auto"}


class HarnessCommand(TyperCommand):
    """A typer command whose untyped flags arrive as None when it reads a settings file; on/off flags
    show no `<bool>` metavar in --help."""

    def parse_args(self, ctx: typer.Context, args: list[str]) -> list[str]:
        rest = super().parse_args(ctx, _with_optional_values(list(args)))
        if any(p.name in SETTINGS_FILE_PARAMS for p in self.params):
            for name in ctx.params:
                source = ctx.get_parameter_source(name)
                if source is not None and source.name in NOT_TYPED:
                    ctx.params[name] = None  # not typed: the file, then the model's default, decide
        return rest

    def get_params(self, ctx: typer.Context) -> list[Any]:
        return _without_bool_metavar(super().get_params(ctx))


def _with_optional_values(args: list[str]) -> list[str]:
    """`args` with each OPTIONAL_VALUES option that has no value (last, or before another flag) given its own."""
    out: list[str] = []
    for i, arg in enumerate(args):
        out.append(arg)
        if arg == "--":
            return out + args[i + 1 :]
        if arg in OPTIONAL_VALUES and (i + 1 == len(args) or args[i + 1].startswith("-")):
            out.append(OPTIONAL_VALUES[arg])
    return out


class HarnessGroup(TyperGroup):
    """A command group whose --help shows no `<bool>` either."""

    def get_params(self, ctx: typer.Context) -> list[Any]:
        return _without_bool_metavar(super().get_params(ctx))


def _without_bool_metavar(params: list[Any]) -> list[Any]:
    for param in params:
        if getattr(param, "is_flag", False) and param.metavar is None:
            param.metavar = ""  # `--no-cache`, `--help` take no value; typer would print `<bool>`
    return params


class HarnessTyper(typer.Typer):
    """`typer.Typer` whose commands are `HarnessCommand`s, so every flag declared on them follows the rule."""

    def __init__(self, *args, cls: type[TyperGroup] | None = None, **kwargs):
        super().__init__(*args, cls=cls or HarnessGroup, **kwargs)

    def command(self, *args, cls: type[TyperCommand] | None = None, **kwargs):
        return super().command(*args, cls=cls or HarnessCommand, **kwargs)
