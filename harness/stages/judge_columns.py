"""Where `harness judge` reads each judge's inputs: the logical columns (prediction, gold, response, ...) that
the chosen judges need, each found in the input (an artifact or a user's file), in the synth run's source (by
`source_index`), or given as a constant (`--regex`); `--col LOGICAL=COLUMN` (or `=source:COLUMN`) overrides the
defaults below. `--col group=COLUMN` is no judge's: it says which rows of a user's file are one question.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from harness.artifacts.sources import InputError, open_source
from harness.artifacts.spill import SPILL_BOUND, SpillMap
from harness.config import ConfigError, JudgeConfig
from judges.registry import LLM_JUDGES, VERIFIERS

SOURCE_PREFIX = "source:"
GROUP = "group"  # --col group=COLUMN: a user's file's rows that share COLUMN's value are one question
# Where each logical column is looked for by default, in order: first in the artifact, then in its source.
DEFAULT_COLUMNS: dict[str, tuple[str, ...]] = {
    "prediction": ("answer", "output", "completion"),  # the model's final answer
    "gold": ("reference", "gold_option", "solution"),
    "choices": ("choices",),
    "question": ("question", "instruction"),
    "response": ("answer", "completion"),  # what LLM judges see: the answer, blind to the thoughts
    "generator": ("generator",),
    "seed": ("seed",),
    "index": ("index",),
    "config": ("config",),
}
ONE_BASED_GOLD = {"gold_option"}  # 1-based option numbers (structured); bare integers would read as 0-based


@dataclass(frozen=True)
class Column:
    """Where a logical column's values come from: an artifact column, a source column, or a constant."""

    where: str  # "artifact", "source" or "constant"
    name: str | None = None
    value: Any = None

    def describe(self) -> str:
        return {"artifact": f"{self.name}", "source": f"{SOURCE_PREFIX}{self.name}"}.get(self.where, repr(self.value))


def _needed(judges: list[str]) -> tuple[set[str], set[str]]:
    """(required, optional) logical columns of these judges."""
    required: set[str] = set()
    optional: set[str] = set()
    for name in judges:
        if name in VERIFIERS:
            required |= {"prediction", *VERIFIERS[name].columns}
            optional |= set(VERIFIERS[name].optional)
        elif name in LLM_JUDGES:
            required.add("response")
            optional.add("question")
    return required, optional - required


def resolve_columns(
    cfg: JudgeConfig, judges: list[str], present: list[str], source: SourceColumns
) -> dict[str, Column]:
    """Each logical column these judges read -> where its values come from (`present`: the artifact's columns);
    a required one found nowhere is refused, naming the --col that would map it."""
    required, optional = _needed(judges)
    known = required | optional
    unknown = set(cfg.columns) - known - {GROUP}
    if unknown:
        raise ConfigError(
            f"--col: these judges read no column(s) {sorted(unknown)}; they read {sorted(known)} (and {GROUP}: a question's rows)"
        )
    resolved: dict[str, Column] = {}
    if "pattern" in known:
        if cfg.regex is None and "pattern" not in cfg.columns:
            raise ConfigError("the regex judge needs --regex PATTERN (its first group is the answer)")
        if cfg.regex is not None:
            try:
                re.compile(cfg.regex)
            except re.error as err:
                raise ConfigError(f"--regex {cfg.regex!r}: not a valid regular expression ({err})") from err
            resolved["pattern"] = Column("constant", value=cfg.regex)
    for logical in sorted(known - set(resolved)):
        found = _locate(logical, cfg.columns.get(logical), present, source)
        if found is None and logical in required:
            looked = cfg.columns.get(logical) or " or ".join(DEFAULT_COLUMNS.get(logical, (logical,)))
            where = f" or in its source {source.label}{source.unreadable}" if source.label else ""
            raise ConfigError(
                f"{cfg.input}: no column for the {logical} (looked for {looked} in the input{where}); "
                f"name one with --col {logical}=COLUMN (or --col {logical}={SOURCE_PREFIX}COLUMN)"
            )
        if found is not None:
            resolved[logical] = found
    _refuse_self_comparison(cfg, resolved)
    return resolved


def _refuse_self_comparison(cfg: JudgeConfig, resolved: dict[str, Column]) -> None:
    """A prediction read from the gold's own column scores every row right: a user's file whose gold is named
    `answer` (the prediction's first default) would otherwise pass every row."""
    prediction, gold = resolved.get("prediction"), resolved.get("gold")
    if prediction is None or prediction != gold:
        return
    others = [c for c in DEFAULT_COLUMNS["prediction"] if c != prediction.name]
    raise ConfigError(
        f"{cfg.input}: the prediction and the gold would both be read from column {prediction.describe()!r}, so "
        f"every row would match; name the model's answer with --col prediction=COLUMN (such as "
        f"{' or '.join(others)}) and the gold with --col gold=COLUMN"
    )


def _locate(logical: str, given: str | None, present: list[str], source: SourceColumns) -> Column | None:
    if given is not None:
        if given.startswith(SOURCE_PREFIX):
            name = given.removeprefix(SOURCE_PREFIX)
            if name not in source.columns():
                raise ConfigError(f"--col {logical}={given}: the source {source.label} has no column {name!r}")
            return Column("source", name)
        if given in present:
            return Column("artifact", given)
        if given in source.columns():
            return Column("source", given)
        raise ConfigError(f"--col {logical}={given}: no such column in the artifact or its source")
    candidates = DEFAULT_COLUMNS.get(logical, (logical,))
    for name in candidates:
        if name in present:
            return Column("artifact", name)
    for name in candidates:
        if name in source.columns():
            return Column("source", name)
    return None


SOURCE_VALUES = "_source_values"  # a row's key for its source columns while it is judged (never written)


def with_source(rows: list[dict[str, Any]], lookup: SpillMap) -> list[dict[str, Any]]:
    """One question's rows with their source columns (`SourceColumns.values`) attached: the driver does this, so
    a Ray replica gets what it needs with the question and no one ships the whole lookup."""
    if not lookup:
        return rows
    return [{**row, SOURCE_VALUES: lookup.get(row["source_index"], {})} for row in rows]


def row_values(row: dict[str, Any], columns: dict[str, Column]):
    """One row's logical values; its source columns are the ones `with_source` attached."""
    values = {}
    for logical, column in columns.items():
        if column.where == "constant":
            values[logical] = column.value
        elif column.where == "artifact":
            values[logical] = _gold_value(row.get(column.name), column.name)
        else:
            values[logical] = (row.get(SOURCE_VALUES) or {}).get(column.name)
    return values


def _gold_value(value: Any, column: str) -> Any:
    return str(value) if column in ONE_BASED_GOLD and isinstance(value, int) else value


class SourceColumns:
    """The input the synth run read (from the artifact's provenance, or --source): columns the artifact did
    not keep, such as reasoning-gym's generator/seed/index/config, are read from it by `source_index`."""

    def __init__(self, given: str | None, provenance: dict[str, Any]) -> None:
        upstream = provenance.get("source") or provenance.get("input") or {}
        self.label: str | None = given or (upstream.get("label") if isinstance(upstream, dict) else None)
        self.files = upstream.get("files") if isinstance(upstream, dict) and not given else None
        self._source = None
        self._error: InputError | None = None  # raised only when a column must come from the source

    def _open(self):
        if self._source is None and self._error is None and self.label is not None:
            try:
                self._source = open_source(self.label, {})
            except InputError as err:
                self._error = InputError(f"the artifact's source cannot be read ({err}); pass --source FILE")
        if self._source is None and self._error is not None:
            raise self._error
        return self._source

    def columns(self) -> list[str]:
        """The source's columns; none when there is no source or it cannot be read (an optional column then
        stays empty; a required one is reported with `unreadable`)."""
        try:
            source = self._open()
        except InputError:
            return []
        return list(source.columns) if source is not None else []

    @property
    def unreadable(self) -> str:
        return f" ({self._error})" if self._error is not None else ""

    def provenance(self) -> dict[str, Any] | None:
        return {"label": self.label, "files": self.files} if self.label else None

    def values(self, names: set[str]) -> SpillMap:
        """source_index -> the needed columns, only those; past `SPILL_BOUND` rows on disk, so a 10M-row source
        is not held in memory."""
        lookup = SpillMap(SPILL_BOUND)
        if not names:
            return lookup
        source = self._open()
        files = source.fingerprint.get("files")
        if self.files and files and files != self.files:
            raise InputError(f"{self.label} changed since the synth run read it (sha256 differs); pass --source")
        for row in source.rows():
            lookup[row.index] = {n: row.values.get(n) for n in names}
        return lookup
