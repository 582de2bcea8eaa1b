"""The task, and its options, that made an artifact's rows: those its synth run recorded, found up the artifacts
the rows were passed on through (decontam, judge, ... record their input). `harness rescore` and `harness judge
--judge format` both re-run the task's `parse` with them, so their verdicts are synth's.

Where the chain ends at a stage's input that is gone (a folder moved or deleted), the options are unknown and
the input is refused, never read with the task's defaults. Rows with no harness provenance (a user's own folder
of Parquet files, or a stage's input that is a user's file: JSONL, Parquet) were made by no synth run here: the
task's defaults are the options, and `TaskRun.source` says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import yaml

from harness.artifacts.reader import Artifact, input_label, made_from_chain, open_artifact
from harness.artifacts.writer import META_DIR, PART_RE
from harness.config import ConfigError, read_option_files
from tasks import get_task
from tasks.base import Task

DEFAULTS = "the task's defaults"


@dataclass(frozen=True)
class TaskRun:
    """The options the rows' synth run recorded (`@FILE` values unread) and where they were read."""

    options: dict[str, Any]
    synth: Artifact | None  # None: the rows have no harness provenance
    source: str  # the synth artifact's folder, or why the task's defaults are the options

    def describe(self, task: str | None) -> dict[str, Any]:
        return {"task": task, "task_options": self.options, "task_options_from": self.source}


def task_run(artifact: Artifact) -> TaskRun:
    """The synth run that generated the artifact's rows (the artifact itself, or the one it was made from when
    a stage passed them on) and its options; rows with no harness provenance: the task's defaults."""
    chain = list(made_from_chain(artifact))
    synth = next((a for a in chain if not a.provenance.get("stage")), None)  # synth records no stage
    if synth is not None:
        return TaskRun(synth.provenance.get("task_options") or {}, synth, str(synth.path))
    last = chain[-1]
    label = input_label(last.provenance)
    if label and _own_rows(Path(label)):
        return TaskRun({}, None, f"{DEFAULTS}: {label}, the input of {last.path}, has no harness provenance")
    raise ConfigError(
        f"{artifact.path}: no synth run found up the artifacts its rows came from: {last.path} was made by "
        f"{last.provenance.get('stage')} from {label}, which is not a harness artifact here (moved or deleted); "
        "the task options its synth run recorded are there: use that synth artifact, or one made from it, instead"
    )


def folder_run(folder: Path) -> TaskRun:
    """`task_run` of a folder of shards; a folder the harness did not write (no completion markers): the task's
    defaults."""
    if not (folder / META_DIR / "done").is_dir():
        return TaskRun({}, None, f"{DEFAULTS}: {folder} has no harness provenance")
    return task_run(open_artifact(folder))


def make_task(where: Path, name: str | None, options: dict[str, Any] | None = None) -> Task:
    """The task `name` with `options` (their `@FILE` values read); a bad one is refused naming `where`."""
    try:
        return get_task(name or "", **read_option_files(options or {}))
    except ValueError as err:
        raise ConfigError(f"{where}: {err}") from err


def refuse_without_first(where: Path, task: Task, names: list[str], run: TaskRun, then: str) -> None:
    """Two-step rows whose artifact lacks a column that keeps the first step cannot be parsed again; `then`:
    what to do with the new artifact the advice makes ("rescore that")."""
    missing = [c for c in task.first_columns if c not in names]
    if not missing:
        return
    again = f"make a new artifact with {synth_again(run.synth, task.name)} and {then}" if run.synth else ""
    raise ConfigError(
        f"{where}: {task.name} rows without column(s) {missing}, which keep the first step of its two-step "
        f"records (its verdicts read both steps){'; ' + again if again else ''}"
    )


def synth_again(synth: Artifact, task: str) -> str:
    """A command that runs the synth run again, into a new folder: its saved config, where it is one."""
    saved = yaml.safe_load(synth.config_file.read_text(encoding="utf-8")) if synth.config_file else None
    if isinstance(saved, dict) and saved.get("task") == task:
        return f"harness synth --config {synth.config_file} --output NEW_DIR"
    return f"harness synth --task {task} --input {input_label(synth.provenance)} --output NEW_DIR"


def first_task(folder: Path) -> str | None:
    """The task of a folder's rows (every row of an artifact comes from one task), from its first row."""
    for shard in sorted(p for p in folder.glob("*.parquet") if PART_RE.match(p.name)):
        parquet = pq.ParquetFile(shard, pre_buffer=False)
        if "task" not in parquet.schema_arrow.names:
            return None
        for batch in parquet.iter_batches(batch_size=1, columns=["task"]):
            if batch.num_rows:
                return batch.column(0)[0].as_py()
    return None


def _own_rows(path: Path) -> bool:
    """A user's own rows: a file, or a folder the harness did not write; not a harness folder (unreadable)."""
    return path.is_file() or (path.is_dir() and not (path / META_DIR).exists())
