"""`harness report`: artifacts -> one streaming pass each -> a Markdown file and a self-contained HTML page.

Every input is checked (a real artifact folder, one schema) before any row is read; each is then read once,
batch by batch, with only the columns the report uses, so memory stays bounded on any artifact size.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console

from harness import __version__
from harness.artifacts.reader import Artifact, open_artifact, refuse_inside
from harness.artifacts.writer import ArtifactError, generated_by
from harness.config import ReportConfig
from harness.progress import StageProgress
from reports.collect import TokenCount, answer_column, collect, trace_columns
from reports.document import PLOTS_DIR, Document, to_html, to_markdown
from reports.loop import is_loop_folder, loop_section
from reports.sections import Input, build_sections

MARKDOWN = "report.md"
HTML = "report.html"


@dataclass
class ReportRun:
    output: Path
    markdown: Path
    html: Path
    rows: int
    seconds: float
    shown: list[str]  # sections with data
    absent: list[str]  # sections that say what is missing


def run_report(cfg: ReportConfig, console: Console | None = None) -> ReportRun:
    console = console or Console(stderr=True)
    dirs, output = cfg.dirs, cfg.output
    if not dirs:
        raise ArtifactError("give at least one artifact folder to report on")
    loops = [d for d in dirs if is_loop_folder(d)]  # `harness loop` folders: their rounds, not rows
    artifacts = [open_artifact(d) for d in dirs if d not in loops]
    out = _prepare_output(Path(output), artifacts)
    total = sum(a.rows for a in artifacts)
    inputs: list[Input] = []
    with StageProgress("report", total, console, tokens=False) as progress:
        for index, artifact in enumerate(artifacts, start=1):
            data = collect(artifact, _token_counter(artifact), lambda rows: progress.advance(rows, 0))
            inputs.append(Input(index, artifact, data))
    sections = ([loop_section(loops)] if loops else []) + (build_sections(inputs) if inputs or not loops else [])
    made = datetime.now(UTC).isoformat(timespec="seconds")
    intro = [
        f"{len(inputs)} artifact(s), {total} rows{f', {len(loops)} loop(s)' if loops else ''}; "
        f"made by reasoning-harness {__version__} at {made}.",
        *(f"{i.label}: `{i.artifact.path}` ({i.artifact.kind})" for i in inputs),
    ]
    doc = Document("reasoning-harness report", intro, sections)
    for image in doc.images():
        (out / PLOTS_DIR / image.name).write_bytes(image.png)
    (out / MARKDOWN).write_text(to_markdown(doc), encoding="utf-8")
    (out / HTML).write_text(to_html(doc), encoding="utf-8")
    return ReportRun(
        output=out,
        markdown=out / MARKDOWN,
        html=out / HTML,
        rows=total,
        seconds=progress.elapsed,
        shown=[s.title for s in sections if not s.absent],
        absent=[s.title for s in sections if s.absent],
    )


def _prepare_output(out: Path, artifacts: list[Artifact]) -> Path:
    refuse_inside(out, artifacts, "--output")
    if out.exists() and not out.is_dir():
        raise ArtifactError(f"{out}: exists and is not a folder")
    shutil.rmtree(out / PLOTS_DIR, ignore_errors=True)  # plots of an earlier report must not linger
    (out / PLOTS_DIR).mkdir(parents=True, exist_ok=True)
    return out


def _token_counter(artifact: Artifact) -> TokenCount | None:
    """The tokenizer of the model that wrote the artifact, when its folder is on this machine and the
    artifact has texts to measure; None (count words) otherwise."""
    if not trace_columns(artifact) and answer_column(artifact) is None:
        return None
    model = generated_by(artifact.provenance)  # for judged and selected rows: the model that wrote them
    path = Path(model.get("path", "")) if isinstance(model, dict) else None
    if path is None or not (path / "tokenizer.json").is_file():
        return None
    # The `tokenizers` library alone reads the fast tokenizer's file: importing transformers would also import
    # torch, which took most of a small report's time.
    from tokenizers import Tokenizer

    try:
        tokenizer = Tokenizer.from_file(str(path / "tokenizer.json"))
    except Exception:  # noqa: BLE001 - tokenizers raises a bare Exception on a broken file: count words then
        return None

    def count(texts: list[str]) -> list[int]:
        # as judges/token_count.py counts a section: the text's own tokens, no special tokens added
        return [len(e.ids) for e in tokenizer.encode_batch(texts, add_special_tokens=False)] if texts else []

    return count
