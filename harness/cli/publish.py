"""`harness report`, `harness push`, `harness lineage`: show, share and trace what the other stages made.

Their flags are ReportConfig's, PushConfig's and LineageConfig's (harness/config/commands.py).
"""

from __future__ import annotations

import json

import typer

from harness.cli.errors import console, done
from harness.cli.options import command
from harness.config import LineageConfig, PushConfig, ReportConfig
from harness.stages.registry import run_stage


def _report(cfg: ReportConfig) -> None:
    run = run_stage("report", cfg, console)
    absent = f"; no data for: {', '.join(run.absent)}" if run.absent else ""
    console.print(f"{run.rows} rows read in {run.seconds:.1f}s. Sections: {', '.join(run.shown)}{absent}.")
    done(f"Markdown: {run.markdown}; HTML: {run.html}", run.output)


report = command(
    ReportConfig,
    _report,
    """Write a Markdown report and a self-contained HTML page with plots from any set of artifacts.

    Example: harness report runs/demo runs/mmlu --output runs/report
    """,
)


def _push(cfg: PushConfig) -> None:
    from harness.stages.push_model import ModelPushRun

    run = run_stage("push", cfg, console)
    model = isinstance(run, ModelPushRun)
    if model:
        files = f"{len(run.files)} files ({run.bytes} bytes) with a model card"
    else:
        files = f"{run.files.rows} rows in {len(run.files.names)} data file(s) + README.md"
    if run.pushed is None:
        done(f"{files} written to {run.folder} (nothing uploaded).", run.folder)
        return
    pushed = run.pushed
    created = " (repo created)" if pushed.created else ""
    if model:
        done(f"{files} pushed to {pushed.repo_url}{created}.", pushed.commit_url)
        return
    stale = f"; {len(pushed.deleted)} stale data file(s) removed" if pushed.deleted else ""
    done(f"{files} pushed to {pushed.repo_url}{created}, {pushed.revision}{stale}.", pushed.commit_url)


push = command(
    PushConfig,
    _push,
    """Push an artifact to the Hugging Face Hub as a dataset: Parquet in the Hub's layout and a dataset card.
    Push a model folder (`harness train`'s output) as a model repo, with a model card.

    The token comes from HF_TOKEN or `hf auth login` and is never written anywhere.
    Example: harness push runs/demo --repo-id me/backfill-demo --private
    """,
)


def _lineage(cfg: LineageConfig) -> None:
    from reports.lineage_text import hop_lines, model_lines

    found = run_stage("lineage", cfg, console)
    if cfg.json_out:
        result = {
            "model": found.model.to_dict() if found.model else None,
            "chains": [c.to_dict() for c in found.chains],
        }
        typer.echo(json.dumps(result, indent=2, default=str, ensure_ascii=False))
        return
    lines = model_lines(found.model) if found.model else []
    for chain in found.chains:
        lines += hop_lines(chain)
    typer.echo("\n".join(lines))


lineage = command(
    LineageConfig,
    _lineage,
    """Trace a row back to its source row, hop by hop, or show what trained a model.

    Example: harness lineage runs/sft --record 3f2a... ; harness lineage runs/model
    """,
)
