"""A small judged artifact made by hand to the cross-team contract (the judge stage, issue #5, is not on main).

It takes a real synth artifact's rows, keeps them, and adds two judges' columns with the real ArtifactWriter:
`math` (a verifier: 1.0/0.0, null when it could not decide) and `pairwise` (0.0, 0.5 = tie, 1.0), plus
`judge_summary.json` as the contract describes it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from harness.artifacts.writer import ArtifactWriter, base_provenance

MATH_SCORES = [1.0, 0.0, None, 1.0]  # cycled over the rows
PAIRWISE_SCORES = [1.0, 0.5, 0.0, 1.0]
JUDGE_FIELDS = [
    pa.field("judge_math_score", pa.float64()),
    pa.field("judge_math_reason", pa.string()),
    pa.field("judge_pairwise_score", pa.float64()),
    pa.field("judge_pairwise_reason", pa.string()),
]


def make_judged_artifact(synth_dir: Path, out: Path) -> Path:
    source = pq.read_table(sorted(synth_dir.glob("*.parquet"))).replace_schema_metadata(None)
    rows = source.to_pylist()
    for i, row in enumerate(rows):
        math, pairwise = MATH_SCORES[i % len(MATH_SCORES)], PAIRWISE_SCORES[i % len(PAIRWISE_SCORES)]
        row["judge_math_score"] = math
        row["judge_math_reason"] = "could not parse a final answer" if math is None else f"verified: {math:g}"
        row["judge_pairwise_score"] = pairwise
        row["judge_pairwise_reason"] = "tie" if pairwise == 0.5 else f"preferred {'A' if pairwise else 'B'}"
    schema = pa.schema([*source.schema, *JUDGE_FIELDS])
    identity = {"judges": ["math", "pairwise"], "input": str(synth_dir)}
    provenance = {
        **base_provenance(),
        "stage": "judge",
        "input": {"label": str(synth_dir), "files": {str(p): "0" * 64 for p in sorted(synth_dir.glob("*.parquet"))}},
        "model": {"requested": "default", "fingerprint": "fixture", "path": "", "source": "default"},
        "engine": "transformers",
    }
    with ArtifactWriter(out, schema, identity).open({"judges": ["math", "pairwise"]}) as writer:
        writer.commit(pa.Table.from_pylist(rows, schema=schema), provenance)
    math_scores = [MATH_SCORES[i % len(MATH_SCORES)] for i in range(len(rows))]
    pair_scores = [PAIRWISE_SCORES[i % len(PAIRWISE_SCORES)] for i in range(len(rows))]
    summary = {
        "judges": {
            "math": _summary("verifier", math_scores, ties=None, agreement=None),
            "pairwise": _summary("pairwise", pair_scores, ties=pair_scores.count(0.5), agreement=0.75),
        }
    }
    (out / "judge_summary.json").write_text(json.dumps(summary, indent=2))
    return out


def _summary(kind: str, scores: list[float | None], ties: int | None, agreement: float | None) -> dict:
    histogram: dict[str, int] = {}
    for score in scores:
        if score is not None:
            histogram[f"{score:g}"] = histogram.get(f"{score:g}", 0) + 1
    scored = sum(histogram.values())
    return {
        "kind": kind,
        "rows": len(scores),
        "scored": scored,
        "unparsable": len(scores) - scored,
        "ties": ties,
        "position_swap_agreement": agreement,
        "score_histogram": histogram,
        "requests": len(scores) * (2 if kind == "pairwise" else 1),
    }
