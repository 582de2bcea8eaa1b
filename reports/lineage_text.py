"""`harness lineage` as text: one block per hop, indented one level per step back towards the source."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # reports import only harness core at run time (DESIGN: imports point one way)
    from harness.stages.lineage import Hop, ModelLineage

FIELD_CHARS = 300  # long texts are cut in the text view (`--json` has them whole)
SKIPPED = {"verdicts"}  # shown on their own line


def hop_lines(hop: Hop, depth: int = 0, branch: str = "") -> list[str]:
    pad = "  " * depth
    where = f"{hop.artifact}" + (f" ({hop.shard})" if hop.shard else "")
    lines = [f"{pad}hop {depth + 1}{branch}: {hop.stage} {where}"]
    for problem in hop.problems:
        lines.append(f"{pad}  !! {problem}")
    if hop.made_by:
        lines.append(f"{pad}  made by: {_short(json.dumps(hop.made_by, default=str, sort_keys=True), 600)}")
    if hop.prompt is not None:
        lines.append(f"{pad}  prompt: {_short(_text(hop.prompt), 600)}")
    for verdict in hop.verdicts:
        lines.append(f"{pad}  verdict {verdict.get('name')}: {'pass' if verdict.get('passed') else 'FAIL'} ({verdict.get('reason')})")  # fmt: skip
    for name, judged in hop.judges.items():
        lines.append(f"{pad}  judge {name}: {judged['score']} ({_short(str(judged['reason']), 200)})")
    for key, value in hop.row.items():
        if key not in SKIPPED and not key.startswith("judge_"):
            lines.append(f"{pad}  {key}: {_short(_text(value), FIELD_CHARS)}")
    for i, parent in enumerate(hop.parents):
        lines += hop_lines(parent, depth + 1, "abcdefgh"[i % 8] if len(hop.parents) > 1 else "")
    return lines


def model_lines(made: ModelLineage) -> list[str]:
    lines = [f"model {made.model}: harness train {made.method}" + (f", recipe {made.recipe}" if made.recipe else "")]
    for problem in made.problems:
        lines.append(f"  !! {problem}")
    base = made.base_model
    lines.append(f"  base model: {base.get('requested')} (fingerprint {base.get('fingerprint')})")
    lines.append(f"  trained on: {made.input.get('label')} {json.dumps(made.input.get('files') or {}, sort_keys=True)}")
    lines.append(f"  rows: {json.dumps(made.rows, sort_keys=True)}")
    if made.decontam is not None:
        checked = made.decontam.get("checked")
        sets = ", ".join(s["name"] for s in made.decontam.get("against") or [])
        lines.append(f"  decontamination: {'checked against ' + sets if checked else 'not checked'}")
    for step, artifact in enumerate(made.chain):
        per_task = artifact.get("rows_per_task") or {}
        counts = f": {artifact['rows']} rows" if "rows" in artifact else ""
        counts += f" {json.dumps(per_task, sort_keys=True)}" if per_task else ""
        lines.append(f"  {'  ' * step}<- {artifact['stage']} {artifact['artifact']}{counts}")
    return lines


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, default=str, ensure_ascii=False)


def _short(text: str, limit: int) -> str:
    text = text.replace("\n", "\\n")
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} chars)"
