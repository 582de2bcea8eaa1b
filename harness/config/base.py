"""What every config model stands on: strict models, the `Flag` marker, sizes, and loading YAML under flags.

A setting is declared once, as a field of a config model: its type, default and `description` (the help text).
The command line's flags, the YAML keys and `--help` all come from that declaration (harness/cli/options.py).
`Flag` says only what a flag needs beyond it: another name, a short name, a panel, a value read differently.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError


class ConfigError(ValueError):
    """The config file or flags are invalid; the message names the field."""


class StrictModel(BaseModel):
    """A config model: an unknown key is an error that names it, not a silently ignored setting."""

    model_config = ConfigDict(extra="forbid")


@dataclass(frozen=True)
class Flag:
    """How one setting is typed on the command line, where the field's name and type do not say it all.

    name: the flag (default `--field-name`); short: e.g. `-o`; panel: the --help box it is listed in;
    type: the flag's value type when the field's differs (a size typed as text); parse: the flag's value ->
    the field's (`--col a=b` -> {a: b}); metavar: shown for its value; hidden: a file-only setting;
    argument: a positional argument, not a flag; dest: for a flag declared on the model (`FLAGS`) rather
    than on a field, the dotted setting it sets; help: that flag's help (a field's help is its
    `description`); needs: the flag only applies inside its section as the file or other flags set it up,
    and alone is refused with this message."""

    name: str | None = None
    short: str | None = None
    panel: str | None = None
    type: Any = None
    parse: Callable[[Any], Any] | None = None
    metavar: str | None = None
    hidden: bool = False
    argument: bool = False
    dest: str | None = None
    help: str | None = None
    needs: str | None = None


SIZE = re.compile(r"(?i)^\s*(\d+(?:\.\d+)?)\s*(b|kib|mib|gib|tib|kb|mb|gb|tb)?\s*$")
UNITS = {"b": 1, "kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40}
UNITS.update(kb=10**3, mb=10**6, gb=10**9, tb=10**12)


def read_option_files(task_options: dict[str, Any]) -> dict[str, Any]:
    """A task's options, with `@FILE` values read from the file (long prompts live in files)."""
    options = dict(task_options)
    for key, value in options.items():
        if isinstance(value, str) and value.startswith("@"):
            try:
                options[key] = Path(value[1:]).read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as err:
                raise ConfigError(f"task_options.{key}: cannot read {value[1:]} ({err})") from err
    return options


def parse_size(value: int | str) -> int:
    """Bytes from an int or a size such as `256MiB` or `1.5GB`."""
    if isinstance(value, int):
        return value
    match = SIZE.match(str(value))
    if not match:
        raise ValueError(f"expected a size such as 256MiB or 2GiB, got {value!r}")
    return int(float(match[1]) * UNITS[(match[2] or "b").lower()])


def split_commas(value: Any) -> Any:
    """`a,b` (a flag's or a YAML string) as [a, b]; a list stays, each item split the same way."""
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        return value
    return [part.strip() for item in value for part in str(item).split(",") if part.strip()]


def parse_column_flags(flags: list[str]) -> dict[str, str]:
    """`--col LOGICAL=COLUMN` flags as a mapping; a malformed or repeated one is a ConfigError."""
    columns: dict[str, str] = {}
    for flag in flags:
        logical, sep, column = (part.strip() for part in flag.partition("="))
        if not sep or not logical or not column:
            raise ConfigError(f"--col {flag!r}: expected LOGICAL=COLUMN, e.g. --col question=prompt")
        if logical in columns and columns[logical] != column:
            raise ConfigError(f"--col: {logical!r} is mapped twice ({columns[logical]!r} and {column!r})")
        columns[logical] = column
    return columns


def merge_given(base: dict[str, Any], given: dict[str, Any]) -> dict[str, Any]:
    """`given` over `base`, key by key and into nested mappings; None means not given, as for flags."""
    merged = dict(base)
    for key, value in given.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict | None):
            merged[key] = merge_given(merged.get(key) or {}, value)
        elif value is not None:
            merged[key] = value
    return merged


def yaml_problem(err: yaml.YAMLError) -> str:
    """PyYAML's error in one line: where (line, column) and what; its own text spans several lines."""
    mark = getattr(err, "problem_mark", None)
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
    return where + " ".join(str(getattr(err, "problem", None) or err).split())


def read_settings_file(path: Path) -> dict[str, Any]:
    """A YAML file of settings as a mapping; an unreadable or malformed one is a ConfigError saying why."""
    try:
        data = yaml.safe_load(Path(path).read_text()) or {}
    except OSError as err:
        raise ConfigError(f"{path}: cannot read config ({err.strerror})") from err
    except UnicodeDecodeError as err:
        raise ConfigError(f"{path}: not UTF-8 text (byte offset {err.start})") from err
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML ({yaml_problem(err)})") from err
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of settings at the top level")
    return data


Config = TypeVar("Config", bound=BaseModel)


def section_of(kind: type[BaseModel], key: str) -> str | None:
    """The section of `kind` (a nested model field) that holds setting `key`, when `kind` has no `key` itself:
    a flat override such as `temperature` or `base_url` goes into `sampling:` or `openai:`."""
    for name, field in kind.model_fields.items():
        inner = sub_model(field.annotation)
        if inner is not None and key in inner.model_fields:
            return name
    return None


def sub_model(annotation: Any) -> type[BaseModel] | None:
    """The model class inside `annotation` (`Model` or `Model | None`), else None."""
    for candidate in (annotation, *getattr(annotation, "__args__", ())):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def load_config(path: Path | None, overrides: dict[str, Any], kind: type[Config]) -> Config:
    """YAML file (optional) first, then every flag the user actually gave (None means not given).

    An override is a setting's name (`temperature`: into its section when `kind` has no such setting of its
    own) or a section's name with a mapping, merged into the file's section key by key."""
    data = read_settings_file(path) if path is not None else {}
    for key, value in overrides.items():
        if value is None:
            continue
        section = None if key in kind.model_fields else section_of(kind, key)
        if section is not None:
            data[section] = merge_given(data.get(section) or {}, {key: value})  # an empty section loads as None
        elif isinstance(value, dict):
            data[key] = merge_given(data.get(key) or {}, value)
        else:
            data[key] = value
    try:
        return kind(**data)
    except ValidationError as err:
        raise ConfigError(f"{path or 'flags'}: {'; '.join(map(describe_problem, err.errors()))}") from err


def describe_problem(error: Any) -> str:
    """One pydantic error as `setting: what is wrong`; a missing setting says where it can be given."""
    where = ".".join(map(str, error["loc"]))
    if not where:  # a rule between settings (a model validator): its own sentence says it all
        return str(error["ctx"]["error"]) if "error" in error.get("ctx", {}) else error["msg"]
    if error["type"] == "missing" and len(error["loc"]) == 1:
        flag = {"judges": "judge"}.get(where, where).replace("_", "-")
        return f"{where}: missing; give --{flag} or set `{where}:` in the config file"
    return f"{where}: {error['msg']}"
