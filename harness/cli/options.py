"""A command's flags, made from its config model: the one place a setting's flag comes from.

Every field of the model is a flag named after it (`batch_size` -> `--batch-size`), with the field's type,
default and `description` as its help; a nested section (`sampling`, `vllm`, `openai`, `ray`, `peft`, a loop's
`judge`) lends its fields as flags too, in its own --help panel. A field's `Flag` marker (harness/config/base.py)
renames or hides it, and a model's `FLAGS` adds flags that set a key inside a mapping (`--question-col`).
`command(...)` turns the model into a typer command that builds the config (flag > file > default) and hands
it to the stage.
"""

from __future__ import annotations

import inspect
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import typer
from pydantic import BaseModel

from harness.config.base import ConfigError, Flag, load_config, sub_model

SCALARS = (str, int, float, bool)


@dataclass(frozen=True)
class Option:
    """One flag of a command: the parameter typer fills and the dotted setting it sets (None: the command's own)."""

    param: str
    dest: str | None
    flag: Flag
    kind: Any
    default: Any
    help: str
    panel: str | None

    @property
    def names(self) -> list[str]:
        if self.flag.argument:
            return []
        name = self.flag.name or "--" + self.param.replace("_", "-")
        long = f"{name}/--no-{name.removeprefix('--')}" if self.kind is bool else name
        return [long, self.flag.short] if self.flag.short else [long]

    def typer_default(self) -> Any:
        help_text, panel, metavar = self.help, self.panel, self.flag.metavar
        if self.flag.argument:
            return typer.Argument(..., help=help_text, metavar=metavar, show_default=False)
        scalar = isinstance(self.default, SCALARS)
        shown: Any = True if scalar else (_shown(self.default) or False)
        if isinstance(self.default, bool):
            shown = "on" if self.default else "off"  # click would print the flag's name
        return typer.Option(
            self.default if scalar else None, *self.names, help=help_text, rich_help_panel=panel, metavar=metavar,
            show_default=shown,
        )  # fmt: skip


def _shown(default: Any) -> str | None:
    """A list default as --help shows it (`all`), or None for an empty or absent one."""
    if isinstance(default, list | tuple) and default:
        return ",".join(map(str, default))
    return None


def _strip_none(annotation: Any) -> Any:
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return args[0] if len(args) == 1 else annotation
    return annotation


def flag_type(annotation: Any) -> Any:
    """The type a flag reads for a field of this type; None: the field is set in a file only (a mapping)."""
    kind = _strip_none(annotation)
    origin = typing.get_origin(kind)
    if origin is typing.Literal:
        return type(typing.get_args(kind)[0])
    if origin is list:
        return list[str]
    return kind if kind in SCALARS else None


def _marker(field: Any) -> Flag:
    return next((m for m in field.metadata if isinstance(m, Flag)), Flag())


def options_of(model: type[BaseModel]) -> list[Option]:
    """Every flag of `model`: its own settings, then its sections' (into each), then its `FLAGS`."""
    options: list[Option] = []
    _collect(model, options, dest="", prefix="", panel=None, helps=dict(getattr(model, "HELP", {})))
    for extra in getattr(model, "FLAGS", ()):
        options.append(
            Option(
                extra.dest.replace(".", "__"), extra.dest, extra, extra.type or str, None, extra.help or "", extra.panel
            )
        )
    names = [name.split("/")[0] for o in options for name in o.names]
    if duplicated := sorted({n for n in names if names.count(n) > 1}):
        raise TypeError(f"{model.__name__}: flags declared twice: {', '.join(duplicated)}")
    return options


def _collect(model: type[BaseModel], out: list[Option], *, dest: str, prefix: str, panel, helps) -> None:
    sections = []
    taken = {name.split("/")[0] for o in out for name in o.names}
    for name, field in model.model_fields.items():  # in the model's order, as its YAML reads
        marker = _marker(field)
        if marker.hidden:
            continue
        if (inner := sub_model(field.annotation)) is not None:
            sections.append((name, inner))
            continue
        kind = marker.type or flag_type(field.annotation)
        if kind is None:
            continue
        flag_name = marker.name or "--" + (prefix + name).replace("_", "-")
        metavar = marker.metavar or ("<str>" if kind == list[str] and not marker.argument else None)
        option = Option(
            param=f"{dest.replace('.', '__')}{name}", dest=dest + name,
            flag=Flag(**{**marker.__dict__, "name": flag_name, "metavar": metavar}), kind=kind,
            default=None if field.is_required() else field.get_default(call_default_factory=True),
            help=helps.get(dest + name, field.description or ""), panel=marker.panel or panel,
        )  # fmt: skip
        if not option.names or option.names[0].split("/")[0] not in taken:  # the command's own setting wins
            out.append(option)
    for name, inner in sections:
        inner_helps = {f"{dest}{name}.{k}": v for k, v in getattr(inner, "HELP", {}).items()}
        inner_prefix = prefix + getattr(inner, "FLAG_PREFIX", "")
        inner_panel = panel if prefix else getattr(inner, "PANEL", None)
        if getattr(inner, "FLAG_PREFIX", ""):
            inner_panel = inner.PANEL
        _collect(inner, out, dest=f"{dest}{name}.", prefix=inner_prefix, panel=inner_panel,
                 helps={**inner_helps, **helps})  # fmt: skip


def set_dotted(target: dict[str, Any], dest: str, value: Any) -> None:
    """`target` with `value` at `a.b.c`; a mapping already there takes the value's keys beside its own."""
    *parents, leaf = dest.split(".")
    for part in parents:
        target = target.setdefault(part, {})
    if isinstance(value, dict) and isinstance(target.get(leaf), dict):
        target[leaf].update(value)
    else:
        target[leaf] = value


def overrides_from(options: list[Option], values: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The settings the user typed, as nested overrides, and the `needs` flags kept apart (applied later)."""
    overrides: dict[str, Any] = {}
    later: dict[str, Any] = {}
    for option in options:
        value = values.get(option.param)
        if option.dest is None or value is None or (isinstance(value, list | tuple) and not value):
            continue
        value = list(value) if isinstance(value, tuple) else value
        if option.flag.parse is not None:
            value = option.flag.parse(value)
        if option.flag.needs:
            later[option.dest] = (option, value)
        else:
            set_dotted(overrides, option.dest, value)
    return overrides, later


def apply_later(cfg: BaseModel, later: dict[str, Any]) -> None:
    """Flags that only apply inside a section the file or other flags set up (`--merge` needs LoRA)."""
    for dest, (option, value) in later.items():
        *parents, leaf = dest.split(".")
        target: Any = cfg
        for part in parents:
            target = getattr(target, part)
            if target is None:
                raise ConfigError(option.flag.needs)
        setattr(target, leaf, value)


def typed_flags(options: list[Option], values: dict[str, Any]) -> list[str]:
    """The arguments and flags the user typed (`values`: only those typed are set), spelled as a command line
    spells them: advice that repeats the command (harness/cli/advice.py)."""
    arguments: list[str] = []
    flags: list[str] = []
    for option in options:
        value = values.get(option.param)
        if value is None:
            continue
        items = list(value) if isinstance(value, list | tuple) else [value]
        if option.flag.argument:
            arguments += map(str, items)
            continue
        name = option.names[0].split("/")[0]
        if option.kind is bool:
            flags.append(name if value else "--no-" + name.removeprefix("--"))
            continue
        for item in items:
            flags += [name, str(item)]
    return [*arguments, *flags]


# (the settings file's name, the typed flags as overrides, the command as typed) -> the config
Loader = Callable[[str | None, dict[str, Any], list[str]], BaseModel]


def command(
    model: type[BaseModel],
    handler: Callable[..., None],
    doc: str,
    *,
    fixed: dict[str, Any] | None = None,
    own: tuple[Flag, ...] = (),
    file_help: str = "YAML config; flags given on the command line override it.",
    file_param: str = "config",
    loader: Loader | None = None,
    pass_file: bool = False,
    pass_line: bool = False,
) -> Callable[..., None]:
    """A typer command for `model`: its flags (`options_of`), a settings-file flag, and `own` flags that are the
    command's and no setting (they reach `handler` by name). It loads the config (typed flag > file > the
    model's default; `fixed` settings, such as the method a subcommand names, over all) and calls
    `handler(cfg, **own_values)` (and the settings file's name, as `file_param`, with `pass_file`; the command as
    typed, as `line`, with `pass_line`)."""
    from harness.cli.errors import reported_errors

    options = [o for o in options_of(model) if o.dest.split(".")[0] not in (fixed or {})]
    options += [Option(o.name.removeprefix("--").replace("-", "_"), None, o, o.type or str, None, o.help or "",
                       o.panel) for o in own]  # fmt: skip
    load = loader or (lambda path, given, line: load_config(path, given, model))

    def run(ctx: typer.Context, **values: Any) -> None:
        path = values.pop(file_param)
        line = ["harness", *ctx.command_path.split()[1:], *typed_flags(options, values)]
        line += [f"--{file_param}", path] if path is not None else []
        with reported_errors(line):
            overrides, later = overrides_from(options, values)
            cfg = load(path, {**overrides, **(fixed or {})}, line)
            apply_later(cfg, later)
            own_values = {o.param: values[o.param] for o in options if o.dest is None}
            handler(
                cfg, **own_values, **({file_param: path} if pass_file else {}), **({"line": line} if pass_line else {})
            )

    file_option = inspect.Parameter(
        file_param, inspect.Parameter.KEYWORD_ONLY, default=typer.Option(None, help=file_help), annotation=str | None
    )
    params = [
        inspect.Parameter(o.param, inspect.Parameter.KEYWORD_ONLY, default=o.typer_default(), annotation=_annotation(o))
        for o in options
    ]
    context = inspect.Parameter("ctx", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=typer.Context)
    run.__signature__ = inspect.Signature([context, *params, file_option])  # type: ignore[attr-defined]
    run.__annotations__ = {p.name: p.annotation for p in [context, *params, file_option]}
    run.__doc__ = doc
    return run


def _annotation(option: Option) -> Any:
    return option.kind if option.flag.argument else option.kind | None
