"""The report's "Rescored verdicts" section: the flip table `harness rescore` wrote (`DIR/rescore.json`), for the
inputs that have one. The section is left out of reports whose inputs have none."""

from __future__ import annotations

import json
from typing import Any

from harness.artifacts.writer import ArtifactError
from reports.document import Section, Table

RESCORE_FILE = "rescore.json"  # harness/stages/rescore.py writes it into its output folder
TITLE = "Rescored verdicts"
NOTE = (
    "`harness rescore` ran the current verifiers again on the stored rows, without generating: per verdict, the "
    "rows where it was reached (before or now), those that went pass -> fail and fail -> pass, and other changes "
    "(reached before and not now, or the reverse; a judge score that moved without crossing 1.0). A verifier "
    "whose code did not change flips nothing."
)
SHOWN_EXAMPLES = 3


def rescore_sections(inputs: list) -> list[Section]:
    """[the section] when some input is a `harness rescore` output, else []."""
    found = [(item, data) for item in inputs if (data := read_rescore(item.artifact.path)) is not None]
    if not found:
        return []
    section = Section(TITLE, [NOTE])
    rows = []
    for item, data in found:
        for name, verdict in (data.get("verdicts") or {}).items():
            rows.append(
                [
                    item.label,
                    name,
                    f"{verdict.get('verifier')} {verdict.get('version')}",
                    str(verdict.get("compared", 0)),
                    str(verdict.get("pass_to_fail", 0)),
                    str(verdict.get("fail_to_pass", 0)),
                    str(verdict.get("other", 0)),
                    _examples(verdict.get("examples") or {}),
                ]
            )
    header = ["artifact", "verdict", "verifier and version", "rows", "pass -> fail", "fail -> pass", "other", "examples"]  # fmt: skip
    section.blocks.append(Table(header, rows))
    for item, data in found:
        for judge, why in (data.get("not_rerun") or {}).items():
            section.blocks.append(f"{item.label}: `{judge}` not re-run ({why}).")
        for why, count in (data.get("not_rescored") or {}).items():
            section.blocks.append(f"{item.label}: {count} rows not rescored: {why}.")
    return [section]


def read_rescore(folder) -> dict[str, Any] | None:
    path = folder / RESCORE_FILE
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ArtifactError(
            f"{path}: not valid JSON ({err}); run the same harness rescore again to rewrite it"
        ) from err
    if not isinstance(data, dict):
        raise ArtifactError(f"{path}: expected a JSON object at the top level")
    return data


def _examples(examples: dict[str, list[str]]) -> str:
    parts = [
        f"{label}: {', '.join(f'`{r}`' for r in examples.get(key, [])[:SHOWN_EXAMPLES])}"
        for key, label in (("pass_to_fail", "p->f"), ("fail_to_pass", "f->p"), ("other", "other"))
        if examples.get(key)
    ]
    return "; ".join(parts) or "—"
