"""The report's "Usefulness and contamination" section: trace usefulness scores (`harness judge --judge
usefulness`) and decontam marks (`harness decontam`), for the inputs that have them. Only the light columns are
streamed, in batches. The section is left out of reports whose inputs have neither."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import pyarrow.compute as pc

from reports import plots
from reports.document import Image, Section, Table

USEFULNESS = "judge_usefulness_score"
COPIED = "judge_usefulness_copied"
DELTA = "judge_usefulness_delta"
CLEAN = "decontam_clean"
EVAL_SET = "decontam_eval_set"
TITLE = "Usefulness and contamination"
NOTE = (
    "Usefulness: mean log p(solution | instruction, trace) - mean log p(solution | instruction) per solution token "
    "(delta), credited only for the share of the solution the trace does not copy verbatim (score). "
    "Contamination: rows sharing a word n-gram with an eval set (`harness decontam`)."
)


def data_checks_sections(inputs: list) -> list[Section]:
    """[the section] when some input has usefulness scores or decontam marks, else []."""
    present = [i for i in inputs if i.artifact.has(USEFULNESS) or i.artifact.has(CLEAN)]
    if not present:
        return []
    section = Section(TITLE, [NOTE])
    rows = []
    for item in present:
        found = _read(item.artifact)
        rows.append([item.label, *found.usefulness_cells(), *found.contamination_cells()])
        if found.scores:
            bins = Counter()  # 0.1-wide bars
            for value, count in found.scores.items():
                bins[f"{round(value, 1):g}"] += count
            png = plots.score_bars(bins, 0, f"{item.label}: usefulness")
            section.blocks.append(Image(f"{item.slug}-usefulness.png", png, f"usefulness scores, {item.label}"))
    header = ["artifact", "scored", "score p10 / median / p90", "mean delta", "mean copied", "rows checked", "contaminated", "by eval set"]  # fmt: skip
    section.blocks.insert(1, Table(header, rows))
    return [section]


@dataclass
class Found:
    """Streamed counts: scores as a histogram at 0.01 (quantiles to that precision), sums, mark counts."""

    scores: Counter = field(default_factory=Counter)
    delta_sum: float = 0.0
    copied_sum: float = 0.0
    checked: int = 0
    contaminated: int = 0
    sets: Counter = field(default_factory=Counter)

    def usefulness_cells(self) -> list[str]:
        scored = sum(self.scores.values())
        if not scored:
            return ["-", "-", "-", "-"]
        p10, p50, p90 = (self._quantile(q, scored) for q in (0.1, 0.5, 0.9))
        return [str(scored), f"{p10:+.2f} / {p50:+.2f} / {p90:+.2f}", f"{self.delta_sum / scored:+.3f}", f"{self.copied_sum / scored:.0%}"]  # fmt: skip

    def _quantile(self, q: float, total: int) -> float:
        seen = 0
        for value in sorted(self.scores):
            seen += self.scores[value]
            if seen >= q * total:
                return value
        return max(self.scores)

    def contamination_cells(self) -> list[str]:
        if not self.checked:
            return ["-", "-", "-"]
        by_set = ", ".join(f"{name}: {count}" for name, count in self.sets.most_common()) or "-"
        return [str(self.checked), f"{self.contaminated} ({self.contaminated / self.checked:.1%})", by_set]


def _read(artifact) -> Found:
    found = Found()
    for batch in artifact.batches([USEFULNESS, DELTA, COPIED, CLEAN, EVAL_SET]):
        names = batch.schema.names
        if USEFULNESS in names:
            scores = pc.round(pc.drop_null(batch.column(USEFULNESS)), 2)
            found.scores.update({c["values"]: c["counts"] for c in pc.value_counts(scores).to_pylist()})
            found.delta_sum += pc.sum(batch.column(DELTA)).as_py() or 0.0
            found.copied_sum += pc.sum(batch.column(COPIED)).as_py() or 0.0
        if CLEAN in names:
            found.checked += batch.num_rows
            found.contaminated += batch.num_rows - (pc.sum(batch.column(CLEAN).cast("int64")).as_py() or 0)
            found.sets.update(batch.column(EVAL_SET).drop_null().to_pylist())
    return found
