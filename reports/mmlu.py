"""MMLU eval rows -> accuracy with standard errors per subject, group and overall, and the seed card's table.

Statistics follow lm-eval's, so our numbers can be checked against its own: a subject's stderr is the
sample standard deviation over sqrt(n) (`mean_stderr`); a group's accuracy is weighted by subject size and
its stderr is lm-eval's `pooled_sample_stderr` over the group's subjects.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from rich.table import Table

from harness.evalsets.mmlu import GROUPS, OTHER_SECTION, SECTIONS, subject_group, subject_section

SECTION_ORDER = [name for name, _ in SECTIONS] + [OTHER_SECTION]


@dataclass(frozen=True)
class Score:
    n: int
    accuracy: float
    stderr: float | None  # None when it is undefined (a single question)
    format_valid: float | None = None  # share of answers with every format verdict passed (generative mode)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class MMLUSummary:
    metric: str  # what "accuracy" is: acc or acc_norm
    subjects: dict[str, Score]
    groups: dict[str, Score]  # lm-eval's groups present in the run
    sections: dict[str, Score]  # the seed card's levels present in the run
    overall: Score

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "overall": self.overall.to_dict(),
            "groups": {k: v.to_dict() for k, v in self.groups.items()},
            "sections": {k: v.to_dict() for k, v in self.sections.items()},
            "subjects": {k: v.to_dict() for k, v in self.subjects.items()},
        }


def summarize(rows: Iterable[dict[str, Any]], metric: str, with_format: bool = False) -> MMLUSummary:
    """`rows` carry `subject`, `correct` and (generative mode) `valid`: one per question."""
    correct: dict[str, list[float]] = {}
    valid: dict[str, list[float]] = {}
    for row in rows:
        correct.setdefault(row["subject"], []).append(float(row["correct"]))
        valid.setdefault(row["subject"], []).append(float(row["valid"]))
    if not correct:
        raise ValueError("no evaluated questions to summarize")
    subjects = {s: _score(correct[s], valid[s] if with_format else None) for s in sorted(correct)}

    def pooled(names: list[str]) -> Score:
        return _pool([subjects[s] for s in names])

    groups = {g: pooled([s for s in subjects if subject_group(s) == g]) for g in GROUPS}
    sections = {n: pooled([s for s in subjects if subject_section(s) == n]) for n in SECTION_ORDER}
    return MMLUSummary(
        metric=metric,
        subjects=subjects,
        groups={k: v for k, v in groups.items() if v.n},
        sections={k: v for k, v in sections.items() if v.n},
        overall=pooled(list(subjects)),
    )


def _score(values: list[float], valid: list[float] | None) -> Score:
    n = len(values)
    mean = sum(values) / n
    stderr = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1) / n) if n > 1 else None
    return Score(n, mean, stderr, sum(valid) / n if valid is not None else None)


def _pool(scores: list[Score]) -> Score:
    """Size-weighted accuracy and lm-eval's pooled_sample_stderr over subjects."""
    total = sum(s.n for s in scores)
    if total == 0:
        return Score(0, 0.0, None)
    accuracy = sum(s.accuracy * s.n for s in scores) / total
    stderr = None
    if total > len(scores):  # a one-question subject adds nothing: its weight (n - 1) is 0
        pooled_var = sum((s.n - 1) * (s.stderr or 0.0) ** 2 * s.n for s in scores) / (total - len(scores))
        stderr = math.sqrt(pooled_var / total)
    formats = [s.format_valid for s in scores]
    format_valid = sum(f * s.n for f, s in zip(formats, scores, strict=True)) / total if None not in formats else None
    return Score(total, accuracy, stderr, format_valid)


# -- tables ------------------------------------------------------------------------------------------------
def _cells(score: Score) -> list[str]:
    stderr = f" ± {100 * score.stderr:.1f}" if score.stderr is not None else ""
    cells = [str(score.n), f"{100 * score.accuracy:.1f}{stderr}"]
    if score.format_valid is not None:
        cells.append(f"{100 * score.format_valid:.1f}")
    return cells


def _header(summary: MMLUSummary) -> list[str]:
    columns = ["subject", "n", f"{summary.metric} (%) ± stderr"]
    return columns + (["format valid (%)"] if summary.overall.format_valid is not None else [])


def _sections(summary: MMLUSummary) -> list[tuple[str, list[str], Score]]:
    """The seed card's grouping: each level with its subjects and its pooled score."""
    out = []
    for name, score in summary.sections.items():
        subjects = [s for s in summary.subjects if subject_section(s) == name]
        out.append((name, subjects, score))
    return out


def card_rows(summary: MMLUSummary) -> tuple[list[str], list[tuple[list[str], bool]]]:
    """The seed card's table as (header, [(cells, is_total_row)]): each level's pooled row, then its subjects,
    then Overall. Markdown here and HTML in `harness report` render these same rows."""
    rows: list[tuple[list[str], bool]] = []
    for name, subjects, score in _sections(summary):
        rows.append(([name, *_cells(score)], True))
        rows += [([subject, *_cells(summary.subjects[subject])], False) for subject in subjects]
    rows.append((["Overall", *_cells(summary.overall)], True))
    return _header(summary), rows


def group_rows(summary: MMLUSummary) -> tuple[list[str], list[list[str]]]:
    """lm-eval's groups as (header, rows)."""
    return ["group", *_header(summary)[1:]], [[group, *_cells(score)] for group, score in summary.groups.items()]


def markdown_tables(summary: MMLUSummary) -> str:
    """The card's table and the lm-eval group table, without a title."""
    header, rows = card_rows(summary)
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for cells, total in rows:
        lines.append("| " + " | ".join(f"**{c}**" if total else c for c in cells) + " |")
    group_header, groups = group_rows(summary)
    lines += ["", "By lm-eval group:", "", "| " + " | ".join(group_header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cells) + " |" for cells in groups]
    return "\n".join(lines) + "\n"


def markdown(summary: MMLUSummary, title: str, notes: list[str] | None = None) -> str:
    lines = [f"# {title}", ""]
    lines += [f"- {note}" for note in notes or []]
    return "\n".join([*lines, "", ""]) + markdown_tables(summary)


def rich_table(summary: MMLUSummary, title: str) -> Table:
    table = Table(title=title)
    for column in _header(summary):
        table.add_column(column, justify="left" if column == "subject" else "right")
    for name, subjects, score in _sections(summary):
        table.add_row(f"[bold]{name}[/bold]", *(f"[bold]{c}[/bold]" for c in _cells(score)))
        for subject in subjects:
            table.add_row(f"  {subject}", *_cells(summary.subjects[subject]))
    table.add_section()
    for group, score in summary.groups.items():
        table.add_row(f"[dim]group[/dim] {group}", *_cells(score))
    table.add_row("[bold]Overall[/bold]", *(f"[bold]{c}[/bold]" for c in _cells(summary.overall)))
    return table
