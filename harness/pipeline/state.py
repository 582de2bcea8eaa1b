"""A pipeline run's record, `OUTPUT/pipeline.json`, and the fingerprints that decide whether a stage is done.

```json
{"pipeline": "demo", "stages": [{"name": "synth", "status": "done", "output": "OUT/synth",
  "fingerprint": "…", "rows": 8, "valid": 6, "tokens": 812, "seconds": 41.2}, …]}
```

A stage is done when it finished under the same fingerprint: its resolved settings but those of how it runs
(threads, processes, Ray) and the files it reads (every setting naming an existing file or folder: sizes and
modification times of what is inside). So an edited setting
or a changed input file reruns it. The record is rewritten atomically after every change of status.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from harness.artifacts.writer import ArtifactError, write_json_atomic
from harness.cost import COST_SETTINGS

STATE_FILE = "pipeline.json"
Status = Literal["pending", "running", "done"]
SKIPPED_NAMES = (".lock",)  # a reader's lock file is no change of content
# How a stage runs, never what it writes (as each artifact's identity leaves them out): a rerun on more processes
# or another cluster resumes the stage instead of starting it anew.
HOW_IT_RUNS = ("threads", "num_processes", "accelerate_config", "ray")


@dataclass
class StageRecord:
    name: str
    command: str
    output: str
    status: Status = "pending"
    fingerprint: str | None = None
    rows: int | None = None  # rows of its artifact
    valid: int | None = None  # of those, rows whose `valid` is true
    tokens: int | None = None  # tokens the stage generated (synth, LLM judges)
    seconds: float | None = None  # wall time of its last run
    cost: float | None = None  # USD its output cost, every run of it (priced stages only)
    figures: dict[str, Any] = field(default_factory=dict)  # eval: accuracy, questions; train: steps, losses


@dataclass
class PipelineState:
    pipeline: str
    stages: list[StageRecord] = field(default_factory=list)
    stopped: str | None = None  # why the rounds ended before their count (harness/pipeline/rounds.py)

    def record(self, name: str) -> StageRecord | None:
        return next((s for s in self.stages if s.name == name), None)


def read_state(folder: Path, pipeline: str) -> PipelineState:
    """The record in `folder`, or a new one; a record of another pipeline is an error (a folder holds one)."""
    path = folder / STATE_FILE
    if not path.exists():
        return PipelineState(pipeline)
    try:
        data = json.loads(path.read_text())
        state = PipelineState(data["pipeline"], [StageRecord(**s) for s in data["stages"]], data.get("stopped"))
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise ArtifactError(f"{path}: unreadable pipeline record ({err}); move it away to start the run anew") from err
    if state.pipeline != pipeline:
        raise ArtifactError(
            f"{folder} holds a run of pipeline {state.pipeline!r}, not {pipeline!r}; give another --output"
        )
    return state


def write_state(folder: Path, state: PipelineState) -> None:
    write_json_atomic(folder / STATE_FILE, asdict(state))


def fingerprint(command: str, settings: dict[str, Any], own: Path) -> str:
    """A hash of the settings and of every existing file or folder a setting names, but the stage's own output
    folder and the folders holding it (what the stage writes is no input of it). Prices and the budget are left
    out: they change what a run costs, never what it writes, so a stage stopped at its budget resumes."""
    what = {k: v for k, v in settings.items() if k not in (*HOW_IT_RUNS, *COST_SETTINGS)}
    digest = hashlib.sha256(json.dumps([command, what], sort_keys=True, default=str).encode())
    own = own.resolve()
    for value in sorted(_strings(settings)):
        path = Path(value)
        if path.exists() and path.resolve() not in (own, *own.parents):
            digest.update(f"{value}\0".encode())
            for entry in _files(path):
                stat = entry.stat()
                digest.update(f"{entry.relative_to(path)}\0{stat.st_size}\0{stat.st_mtime_ns}\0".encode())
    return digest.hexdigest()


def _strings(value: Any) -> set[str]:
    if isinstance(value, str):
        return {value} if value else set()
    if isinstance(value, dict):
        return set().union(*map(_strings, value.values()))
    if isinstance(value, list):
        return set().union(*map(_strings, value))
    return set()


def _files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    found = []
    for root, _, names in os.walk(path):
        found += [Path(root) / n for n in names if not n.endswith(SKIPPED_NAMES)]
    return sorted(found)
