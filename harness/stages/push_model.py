"""`harness push MODEL_DIR`: a model folder made by `harness train` -> a Hub model repo (or `--to-dir`), its files
as they are (weights, tokenizer, chat template, training log and provenance) plus a model card (README.md,
reports/model_card.py). Resume checkpoints are never in a finished model folder, so nothing is filtered out."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console

from harness.artifacts.reader import lineage_cost, open_artifact
from harness.artifacts.writer import ArtifactError
from harness.hub import Pushed, hub_token, upload_folder
from harness.stages.train import PROVENANCE_FILE
from reports.model_card import ModelFacts, model_card

CARD = "README.md"
LINKS_FILE = "loop.json"  # a round's model lives in RUN/round-K/NAME (harness/pipeline/rounds.py)


@dataclass
class ModelPushRun:
    source: Path
    folder: Path | None  # --to-dir: where the files are; None after an upload
    files: list[str]
    bytes: int
    pushed: Pushed | None
    seconds: float


def is_model_folder(path: str | Path) -> bool:
    return (Path(path) / PROVENANCE_FILE).is_file()


def push_model(
    source: str,
    repo_id: str,
    *,
    to_dir: str | None = None,
    private: bool = False,
    revision: str | None = None,
    message: str | None = None,
    license: str = "unknown",
    console: Console | None = None,
) -> ModelPushRun:
    console = console or Console(stderr=True)
    started = time.perf_counter()
    folder = Path(source)
    facts = _facts(folder, repo_id, license)
    if to_dir is not None:
        target = _empty_folder(Path(to_dir), folder)
        files = _stage(folder, target, facts)
        return ModelPushRun(folder, target, files, _size(target, files), None, time.perf_counter() - started)
    hub_token()  # fail before copying anything when there is no token
    trained = facts.provenance.get("result", {})
    commit = message or f"harness push: {facts.provenance.get('method')} model, {trained.get('steps')} steps"
    with tempfile.TemporaryDirectory(prefix="harness-push-model-") as tmp:
        files = _stage(folder, Path(tmp), facts)
        size = _size(Path(tmp), files)
        console.print(f"uploading {len(files)} files ({size} bytes) ...")
        pushed = upload_folder(Path(tmp), repo_id, private, revision, commit, repo_type="model")
    return ModelPushRun(folder, None, files, size, pushed, time.perf_counter() - started)


def _facts(folder: Path, repo_id: str, license: str) -> ModelFacts:
    provenance = json.loads((folder / PROVENANCE_FILE).read_text(encoding="utf-8"))
    return ModelFacts(
        repo_id=repo_id,
        provenance=provenance,
        **_training_data(provenance.get("input", {}).get("label")),
        measured=_measured(folder),
        adapter=(folder / "adapter_config.json").is_file(),
        license=license,
    )


def _training_data(label: str | None) -> dict[str, Any]:
    """The training artifact's kind and runs (task, model ...), when it is a harness artifact on this machine."""
    if not label or not Path(label).is_dir():
        return {}
    try:
        artifact = open_artifact(label)
    except ArtifactError:
        return {}
    runs = [run.provenance for run in artifact.runs]
    return {"data_kind": artifact.kind, "data_runs": runs, "data_cost": lineage_cost(artifact)}


def _measured(folder: Path) -> dict[str, Any] | None:
    """What the loop that trained this model measured (start and this round), from LOOP/loop.json."""
    links = folder.resolve().parent.parent / LINKS_FILE
    if not links.is_file():
        return None
    recorded = json.loads(links.read_text(encoding="utf-8"))
    for r in recorded.get("rounds", []):
        if r.get("model_out") and Path(r["model_out"]).resolve() == folder.resolve() and r.get("eval"):
            return {"start": recorded.get("start_eval"), "round": r["eval"], "round_number": r["round"]}
    return None


def _empty_folder(target: Path, source: Path) -> Path:
    if target.resolve() == source.resolve() or source.resolve() in target.resolve().parents:
        raise ArtifactError(f"--to-dir {target}: must not be the model folder or inside it")
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise ArtifactError(f"{target}: exists and is not an empty folder; --to-dir writes a fresh one")
    target.mkdir(parents=True, exist_ok=True)
    return target


def _stage(source: Path, target: Path, facts: ModelFacts) -> list[str]:
    """The model folder's files (a PEFT-written README.md replaced by our card), then the card."""
    files = []
    for path in sorted(p for p in source.rglob("*") if p.is_file()):
        name = path.relative_to(source).as_posix()
        if name == CARD:
            continue
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        _link_or_copy(path, target / name)
        files.append(name)
    (target / CARD).write_text(model_card(facts), encoding="utf-8")
    return [*files, CARD]


def _link_or_copy(source: Path, target: Path) -> None:
    """A hard link where the file system allows it: a model's weights are not copied just to be uploaded."""
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def _size(folder: Path, files: list[str]) -> int:
    return sum((folder / name).stat().st_size for name in files)
