"""Training rows from our artifacts, as each method needs them; a file that does not fit gets one clear error.

- sft: `messages` (conversations, e.g. synth's or a selection's), or `prompt` + `completion`, or `text`
- dpo, rank: `prompt`, `chosen`, `rejected` (TRL's preference format, e.g. synth star's `-pairs` artifact);
  dpo also takes them as messages (TRL's conversational format, `harness select pairs --conversational`)
- grpo: `prompt` (text or messages), or a task (`task: structured`) that renders it from the task's columns;
  every other column is passed to the reward functions

Rows an artifact marks `valid: false` are skipped and counted (synth keeps them, with their reasons), and so are
rows `harness decontam` marked `decontam_clean: false`.
Rows are checked as they stream into the dataset (`train_dataset`): memory does not grow with the input.
Across processes (`accelerate launch`) the first process of each node builds it and the others map its file.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from harness.artifacts.sources import InputError, Source, open_source
from harness.config import ConfigError, TrainConfig
from harness.scale import distributed
from harness.stages.train_dataset import Scratch, write_dataset

SFT_FORMATS = (("messages",), ("prompt", "completion"), ("text",))
PAIR_COLUMNS = ("prompt", "chosen", "rejected")


@dataclass
class TrainingRows:
    """The checked rows as a `datasets.Dataset` mapped from a scratch folder; `close()` (or `with`) removes it."""

    label: str
    fingerprint: dict[str, Any]
    dataset: Any = None  # datasets.Dataset
    used: int = 0  # rows in the dataset
    skipped_invalid: int = 0  # rows the artifact marks valid: false
    skipped_by_task: int = 0  # grpo with a task: rows whose input checks failed
    skipped_contaminated: int = 0  # rows `harness decontam` marked (decontam_clean: false)
    scratch: Scratch | None = field(default=None, repr=False)
    dataset_file: str | None = None  # the Arrow file the dataset maps

    def shareable(self) -> TrainingRows:
        """What another process needs to map the same rows: counts and the file, not the open objects."""
        return replace(self, dataset=None, scratch=None, dataset_file=self.dataset.cache_files[0]["filename"])

    def close(self) -> None:
        if self.scratch is not None:
            self.scratch.close()

    def __enter__(self) -> TrainingRows:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def shared_training_rows(cfg: TrainConfig) -> TrainingRows:
    """`training_rows`, built once per node by its first process while the others wait (no two processes write
    the same scratch files); the others then map the file it wrote. One process: `training_rows` itself."""
    if not distributed.is_distributed():
        return training_rows(cfg)
    built: list[TrainingRows] = []

    def build() -> TrainingRows:
        built.append(training_rows(cfg))
        return built[0].shareable()

    shared = distributed.on_local_main(build)
    if built:
        return built[0]
    from datasets import Dataset

    return replace(shared, dataset=Dataset.from_file(shared.dataset_file))


def training_rows(cfg: TrainConfig) -> TrainingRows:
    """Every row checked (the errors name file, row and column) and written to the dataset before any model loads."""
    if cfg.method == "grpo" and cfg.task is not None:
        return _task_prompts(cfg)
    source = open_source(cfg.input, {})
    columns = _format(cfg.method, source)
    out = TrainingRows(source.label, source.fingerprint)
    return _build(out, _plain_rows(cfg, source, columns, out))


def _plain_rows(cfg: TrainConfig, source: Source, columns: tuple[str, ...], out: TrainingRows) -> Iterator[dict]:
    for index, row in _usable(source, out, cfg.limit):
        if cfg.method == "grpo":
            yield {"prompt": _prompt(source.label, index, row["prompt"]), **_extras(row)}
        else:
            check = _text_or_messages if cfg.method == "dpo" else _checked  # the rank loss encodes text
            checked = {c: check(source.label, index, c, row.get(c)) for c in columns}
            if cfg.method == "rank":  # the ground truth its cross-entropy is on; "" = none, the chosen stands in
                checked["gold"] = row["gold"] if isinstance(row.get("gold"), str) else ""
            yield checked


def _build(out: TrainingRows, rows: Iterator[dict[str, Any]]) -> TrainingRows:
    out.scratch = Scratch()
    try:
        out.dataset = write_dataset(out.label, _counted(rows, out), out.scratch.path)
    except BaseException:
        out.close()
        raise
    if out.dataset is None:
        out.close()
        raise InputError(f"{out.label}: no usable rows to train on ({out.skipped_invalid} marked invalid)")
    return out


def _counted(rows: Iterator[dict[str, Any]], out: TrainingRows) -> Iterator[dict[str, Any]]:
    for row in rows:
        out.used += 1  # before the row is handed on: `--limit` counts the rows kept
        yield row


def _format(method: str, source: Source) -> tuple[str, ...]:
    present = set(source.columns)
    formats = {"sft": SFT_FORMATS, "dpo": (PAIR_COLUMNS,), "rank": (PAIR_COLUMNS,), "grpo": (("prompt",),)}[method]
    for columns in formats:
        if present.issuperset(columns):
            return columns
    wanted = " or ".join("+".join(f) for f in formats)
    hint = " (or set `task` to render prompts from a task's columns)" if method == "grpo" else ""
    raise InputError(
        f"{source.label}: `harness train {method}` needs the column(s) {wanted}{hint}; "
        f"it has {', '.join(source.columns) or 'none'}"
    )


def _usable(source: Source, out: TrainingRows, limit: int | None) -> Iterator[tuple[int, dict[str, Any]]]:
    for index, values in source.values():
        if values.get("valid") is False:
            out.skipped_invalid += 1
            continue
        if values.get("decontam_clean") is False:
            out.skipped_contaminated += 1
            continue
        if limit is not None and out.used >= limit:
            return
        yield index, values


def _checked(label: str, index: int, column: str, value: Any) -> Any:
    if column == "messages":
        return _messages(label, index, value)
    if not isinstance(value, str) or not value:
        raise InputError(f"{label}: row {index}, column {column!r}: expected non-empty text, got {value!r:.80}")
    return value


def _messages(label: str, index: int, value: Any, column: str = "messages") -> list[dict[str, str]]:
    if not isinstance(value, list) or not value:
        raise InputError(f"{label}: row {index}, column {column!r}: expected a non-empty list of messages")
    for i, message in enumerate(value):
        if not (isinstance(message, dict) and isinstance(message.get("role"), str)):
            raise InputError(f"{label}: row {index}, column {column!r}: message {i} has no role")
        if not isinstance(message.get("content"), str):
            raise InputError(f"{label}: row {index}, column {column!r}: message {i} has no text content")
    return [{"role": m["role"], "content": m["content"]} for m in value]


def _prompt(label: str, index: int, value: Any) -> str | list[dict[str, str]]:
    return _text_or_messages(label, index, "prompt", value)


def _text_or_messages(label: str, index: int, column: str, value: Any) -> str | list[dict[str, str]]:
    if isinstance(value, list):
        return _messages(label, index, value, column)
    return _checked(label, index, column, value)


def _extras(row: dict[str, Any]) -> dict[str, Any]:
    """Columns for the reward functions: everything but the prompt and the artifact's bookkeeping."""
    bookkeeping = {"prompt", "verdicts", "valid", "rejection_reason", "decontam_clean"}
    return {k: v for k, v in row.items() if k not in bookkeeping}


def _task_prompts(cfg: TrainConfig) -> TrainingRows:
    """GRPO prompts rendered by a task from its logical columns, which also go to the rewards under those names."""
    from tasks import get_task

    try:
        task = get_task(cfg.task, **cfg.task_options)
    except ValueError as err:
        raise ConfigError(str(err)) from err
    required = {logical: cfg.columns.get(logical, default) for logical, default in task.columns.items()}
    source = open_source(cfg.input, required, "train", task.text_columns)
    out = TrainingRows(source.label, source.fingerprint)

    def prompts() -> Iterator[dict[str, Any]]:
        for _, row in _usable(source, out, cfg.limit):
            values = {logical: row.get(column) for logical, column in required.items()}
            if not all(v.passed for v in task.check(values)):
                out.skipped_by_task += 1
                continue
            request = task.render(values)
            prompt = request.prompt if request.prompt is not None else [dict(m) for m in request.messages]
            yield {"prompt": prompt, **task.canonical_values(values)}  # the task's reading of the answer, as synth's

    return _build(out, prompts())
