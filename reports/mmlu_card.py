"""The Qwen2.5 GRPO structured-reasoning card's MMLU table: its 12 subjects, 100 random questions each, in its
layout and with its names (`harness eval mmlu --preset structured-card`).

The card groups its subjects under three headings and names some of them its own way ("Medicine" for
college_medicine, "Management" under High School Courses, "Psychology" for high_school_psychology). Our fuller
table (every level, stderr, format validity) follows it in the report.
"""

from __future__ import annotations

from harness.evalsets.structured_card import CARD_TABLE, INTRO, LIMIT, PRESET, SUBJECTS  # noqa: F401 (the report's names)
from reports.mmlu import MMLUSummary


def card_markdown(summary: MMLUSummary, with_card: bool = False) -> str:
    """The card's tables with this run's accuracies (`with_card`: the card's own figures, as it prints them)."""
    lines = [INTRO]
    for heading, rows in CARD_TABLE:
        lines += ["", heading, "", "| Subject | Accuracy |", "|---|---|"]
        for subject, name, card in rows:
            score = summary.subjects.get(subject)
            value = f"{card}%" if with_card else (f"{round(100 * score.accuracy)}%" if score else "-")
            lines.append(f"| {name} | {value} |")
    return "\n".join(lines) + "\n"


def comparison_markdown(summary: MMLUSummary) -> str:
    """This run beside the card, subject by subject."""
    lines = ["| Subject | Accuracy | The card |", "|---|---|---|"]
    for _, rows in CARD_TABLE:
        for subject, name, card in rows:
            score = summary.subjects.get(subject)
            lines.append(f"| {name} | {f'{100 * score.accuracy:.0f}%' if score else '-'} | {card}% |")
    return "\n".join(lines) + "\n"
