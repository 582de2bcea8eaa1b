"""`harness push`: an artifact -> the Hub's dataset layout (data/train-NNNNN-of-NNNNN.parquet + README.md card)
-> one commit to a dataset repo, or (`--to-dir`) the same files in a local folder and nothing uploaded.

The rows are streamed from the artifact's small shards into a few large Parquet files (the Hub and `datasets`
prefer hundreds of MB per file to thousands of tiny ones), holding one row group in memory at a time. Each
file's metadata (key `harness`) carries the provenance of every run that wrote the artifact.
"""

from __future__ import annotations

import json
import re
import shlex
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from rich.console import Console

from harness.artifacts.reader import Artifact, open_artifact, refuse_inside
from harness.artifacts.sources import CSV_SUFFIXES, JSONL_SUFFIXES, PARQUET_SUFFIXES, InputError
from harness.artifacts.writer import META_DIR, PROVENANCE_KEY, ArtifactError
from harness.config import ConfigError, PushConfig
from harness.engines.cache import canonical_json
from harness.evalsets.gate import CLEAN, DecontamStatus, require_checked
from harness.hub import Pushed, hub_token, upload_folder
from harness.progress import StageProgress
from harness.stages.push_model import ModelPushRun
from reports.collect import collect
from reports.dataset_card import SPLIT, PushedFiles, card_markdown
from reports.sections import Input

REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*$")
CARD = "README.md"


@dataclass(frozen=True)
class FileLimits:
    """How rows are cut into data files and row groups (memory holds one row group)."""

    file_bytes: int = 500 * 2**20  # in-memory Arrow bytes per data file, as `datasets`' push_to_hub shards
    group_rows: int = 10_000
    group_bytes: int = 64 * 2**20


@dataclass
class PushRun:
    source: Path
    folder: Path | None  # --to-dir: where the files are; None after an upload (a temporary folder)
    files: PushedFiles
    pushed: Pushed | None  # None with --to-dir
    seconds: float


def run_push(cfg: PushConfig, console: Console | None = None) -> PushRun | ModelPushRun:
    """The stage: a `harness train` model folder goes to a model repo, anything else to a dataset repo."""
    from harness.stages.push_model import is_model_folder, push_model

    settings = {"to_dir": cfg.to_dir, "private": cfg.private, "revision": cfg.revision, "message": cfg.message}
    if is_model_folder(cfg.dir):
        if not REPO_ID.match(cfg.repo_id):
            raise ConfigError(f"--repo-id {cfg.repo_id!r}: expected OWNER/NAME, e.g. my-user/smollm2-backfill")
        return push_model(cfg.dir, cfg.repo_id, **settings, license=cfg.license, console=console)
    return push_dataset(
        cfg.dir, cfg.repo_id, **settings, license=cfg.license, console=console, allow_unchecked=cfg.allow_unchecked
    )


def push_dataset(
    source: str,
    repo_id: str,
    *,
    to_dir: str | None = None,
    private: bool = False,
    revision: str | None = None,
    message: str | None = None,
    license: str = "unknown",
    console: Console | None = None,
    limits: FileLimits | None = None,
    allow_unchecked: bool = False,
) -> PushRun:
    console = console or Console(stderr=True)
    limits = limits or FileLimits()
    if not REPO_ID.match(repo_id):
        raise ConfigError(f"--repo-id {repo_id!r}: expected OWNER/NAME, e.g. my-user/backfill-traces")
    rerun = _rerun(repo_id, to_dir, private, revision, message, license)
    _refuse_plain_rows(source, rerun)
    artifact = open_artifact(source)
    # An eval artifact is the eval set's own results, not training data: nothing to check it against.
    gate = None if artifact.kind == "eval" else require_checked(source, allow_unchecked, rerun)
    if to_dir is not None:
        refuse_inside(Path(to_dir), [artifact], "--to-dir")
        folder = _empty_folder(Path(to_dir))
        files, seconds = _stage(artifact, folder, repo_id, license, console, limits, gate)
        return PushRun(artifact.path, folder, files, None, seconds)
    hub_token()  # fail before reading any rows when there is no token
    commit = message or f"harness push: {artifact.rows} rows from the {artifact.kind} artifact {artifact.path.name}"
    with tempfile.TemporaryDirectory(prefix="harness-push-") as tmp:
        files, seconds = _stage(artifact, Path(tmp), repo_id, license, console, limits, gate)
        console.print(f"uploading {len(files.names) + 1} files ({files.download_size} bytes of data) ...")
        pushed = upload_folder(Path(tmp), repo_id, private, revision, commit)
    return PushRun(artifact.path, None, files, pushed, seconds)


def _empty_folder(folder: Path) -> Path:
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise ArtifactError(f"{folder}: exists and is not an empty folder; --to-dir writes a fresh one")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _stage(
    artifact: Artifact,
    folder: Path,
    repo_id: str,
    license: str,
    console: Console,
    limits: FileLimits,
    gate: DecontamStatus | None,
):
    """Write data/ and README.md into `folder`; returns (the files, seconds)."""
    data = collect(artifact, None)  # the card's numbers: light columns only, words for lengths (not shown)
    with StageProgress("push", artifact.rows, console, tokens=False) as progress:
        files = _write_data(artifact, folder, progress, limits)
    if gate is not None:
        left_out = artifact.rows - files.rows
        note = f"; {left_out} contaminated rows left out of this push" if left_out else ""
        files = replace(files, decontamination=gate.describe() + note)
    card = card_markdown(repo_id, Input(1, artifact, data), files, license)
    (folder / CARD).write_text(card, encoding="utf-8")
    return files, progress.elapsed


def _write_data(artifact: Artifact, folder: Path, progress: StageProgress, limits: FileLimits) -> PushedFiles:
    """Stream every row into data/ files of about `limits.file_bytes` (Arrow bytes) each, then name them
    train-IIIII-of-NNNNN.parquet once their number is known."""
    data = folder / "data"
    data.mkdir()
    metadata = {PROVENANCE_KEY: canonical_json(_provenance(artifact)).encode()}
    schema = artifact.schema.with_metadata(metadata)
    parts: list[Path] = []
    writer: pq.ParquetWriter | None = None
    buffer: list[pa.RecordBatch] = []
    file_bytes = buffered_rows = buffered_bytes = arrow_bytes = 0

    def flush() -> None:
        nonlocal writer, file_bytes, buffered_rows, buffered_bytes, arrow_bytes
        if not buffer:
            return
        if writer is None or file_bytes >= limits.file_bytes:
            if writer is not None:
                writer.close()
            parts.append(data / f"part-{len(parts):05d}.tmp")
            writer, file_bytes = pq.ParquetWriter(parts[-1], schema, compression="zstd"), 0
        table = pa.Table.from_batches(buffer).replace_schema_metadata(metadata)
        writer.write_table(table)
        file_bytes += table.nbytes
        arrow_bytes += table.nbytes
        progress.advance(table.num_rows, 0)
        buffer.clear()
        buffered_rows = buffered_bytes = 0

    rows = 0
    for batch in artifact.batches(artifact.schema.names):
        if CLEAN in batch.schema.names:  # rows `harness decontam` marked are never published
            batch = batch.filter(batch.column(CLEAN))
        rows += batch.num_rows
        while batch.num_rows:  # row groups of exactly limits.group_rows rows, or fewer when bytes run out
            part, batch = (
                batch.slice(0, limits.group_rows - buffered_rows),
                batch.slice(limits.group_rows - buffered_rows),
            )
            buffer.append(part)
            buffered_rows, buffered_bytes = buffered_rows + part.num_rows, buffered_bytes + part.nbytes
            if buffered_rows >= limits.group_rows or buffered_bytes >= limits.group_bytes:
                flush()
    flush()
    if writer is not None:
        writer.close()
    names = []
    for i, part in enumerate(parts):
        final = data / f"{SPLIT}-{i:05d}-of-{len(parts):05d}.parquet"
        part.rename(final)
        names.append(final.relative_to(folder).as_posix())
    size = sum((folder / n).stat().st_size for n in names)
    return PushedFiles(names, size, rows, arrow_bytes)


def _provenance(artifact: Artifact) -> dict:
    return {
        "pushed_from": str(artifact.path),
        "rows": artifact.rows,
        "runs": [json.loads(json.dumps(run.provenance, default=str)) for run in artifact.runs],
    }


ROW_SUFFIXES = JSONL_SUFFIXES + CSV_SUFFIXES + PARQUET_SUFFIXES


def _refuse_plain_rows(source: str, rerun: str) -> None:
    """A user's own rows (a JSONL, CSV or Parquet file, a folder of Parquet files, a saved dataset): push publishes
    artifacts, with their provenance and decontamination on the card; decontam makes one of any of those."""
    path = Path(source).expanduser()
    if path.is_dir():
        rows = not (path / META_DIR).is_dir() and (
            any(path.glob("*.parquet")) or any((path / f).is_file() for f in ("dataset_info.json", "dataset_dict.json"))
        )
    else:
        rows = path.is_file() and path.suffix.lower() in ROW_SUFFIXES
    if rows:
        decontam = shlex.join(["harness", "decontam", "--input", source, "--against", "mmlu", "--output", "DIR"])
        raise InputError(
            f"{source}: not an artifact folder; push publishes artifacts (provenance and decontamination on the "
            f"card). Run `{decontam}`, then `{rerun}`"
        )


def _rerun(
    repo_id: str, to_dir: str | None, private: bool, revision: str | None, message: str | None, license: str
) -> str:
    """The push command again, its settings as given, on a checked folder DIR (the refusal's advice)."""
    line = ["harness", "push", "DIR", "--repo-id", repo_id]
    settings = {"--to-dir": to_dir, "--revision": revision, "--message": message}
    line += [word for flag, value in settings.items() if value is not None for word in (flag, value)]
    line += ["--private"] * private + (["--license", license] if license != "unknown" else [])
    return shlex.join(line)
