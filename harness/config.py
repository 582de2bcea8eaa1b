"""Run configuration: pydantic models, loaded from a YAML file, then overridden by CLI flags.

The resolved config is saved beside every artifact (`DIR/.harness/config.yaml`) and in its provenance.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from harness.backends.base import SamplingParams


class ConfigError(ValueError):
    """The config file or flags are invalid; the message names the field."""


class SamplingOverrides(BaseModel):
    """Sampling settings given by the user; anything left unset keeps the task's recipe default."""

    model_config = ConfigDict(extra="forbid")
    temperature: float | None = None
    top_p: float | None = None
    min_p: float | None = None
    max_tokens: int | None = None
    n: int | None = None
    stop: list[str] | None = None
    seed: int | None = None

    def apply(self, defaults: SamplingParams) -> SamplingParams:
        given = {k: v for k, v in self.model_dump().items() if v is not None}
        if "stop" in given:
            given["stop"] = tuple(given["stop"])
        try:
            return SamplingParams(**{**defaults.to_dict(), "stop": defaults.stop, **given})
        except ValueError as err:
            raise ConfigError(f"sampling: {err}") from err


class SynthConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    task: str
    input: str
    output: str
    model: str = "default"
    engine: str = "transformers"
    columns: dict[str, str] = Field(default_factory=dict)  # logical column -> input column
    sampling: SamplingOverrides = Field(default_factory=SamplingOverrides)
    limit: int | None = Field(default=None, ge=1)
    batch_size: int = Field(default=8, ge=1)
    shard: str | None = None  # "I/N": this process handles the rows whose record_id hash is I mod N
    split: str = "train"
    threads: int | None = Field(default=None, ge=1)
    task_options: dict[str, Any] = Field(default_factory=dict)  # the task's own knobs, e.g. system_prompt
    cache: bool = True

    @field_validator("shard")
    @classmethod
    def _shard_form(cls, value: str | None) -> str | None:
        if value is None:
            return value
        match = re.fullmatch(r"(\d+)/(\d+)", value)
        if not match or not 0 <= int(match[1]) < int(match[2]):
            raise ValueError(f"shard must look like I/N with 0 <= I < N, got {value!r}")
        return value

    def shard_parts(self) -> tuple[int, int] | None:
        if self.shard is None:
            return None
        index, total = self.shard.split("/")
        return int(index), int(total)


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


def load_config(path: Path | None, overrides: dict[str, Any]) -> SynthConfig:
    """YAML file (optional) first, then every flag the user actually gave (None means not given)."""
    data: dict[str, Any] = {}
    if path is not None:
        try:
            data = yaml.safe_load(Path(path).read_text()) or {}
        except OSError as err:
            raise ConfigError(f"{path}: cannot read config ({err.strerror})") from err
        except UnicodeDecodeError as err:
            raise ConfigError(f"{path}: not UTF-8 text (byte offset {err.start})") from err
        except yaml.YAMLError as err:
            raise ConfigError(f"{path}: not valid YAML ({err})") from err
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: expected a mapping of settings at the top level")
    for key, value in overrides.items():
        if value is None:
            continue
        if key in SamplingOverrides.model_fields:
            data["sampling"] = {**(data.get("sampling") or {}), key: value}  # an empty section loads as None
        elif key in ("columns", "task_options"):
            data[key] = {**(data.get(key) or {}), **value}
        else:
            data[key] = value
    try:
        return SynthConfig(**data)
    except ValidationError as err:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in err.errors())
        raise ConfigError(f"{path or 'flags'}: {problems}") from err
