"""Accuracy and stderr per subject, group and overall (lm-eval's statistics), and the seed card's table."""

from __future__ import annotations

import random

import pytest
from lm_eval.api.metrics import aggregate_subtask_metrics, mean_stderr, pooled_sample_stderr
from rich.console import Console

from reports.mmlu import markdown, rich_table, summarize

SUBJECTS = {"college_physics": 7, "professional_law": 5, "high_school_biology": 9, "anatomy": 4, "sociology": 6}


@pytest.fixture
def rows():
    rng = random.Random(0)
    return [
        {"subject": s, "correct": rng.random() < 0.4, "valid": rng.random() < 0.7}
        for s, n in SUBJECTS.items()
        for _ in range(n)
    ]


def test_statistics_are_lm_evals(rows):
    summary = summarize(rows, "acc")
    per_subject = {s: [float(r["correct"]) for r in rows if r["subject"] == s] for s in SUBJECTS}
    for subject, values in per_subject.items():
        score = summary.subjects[subject]
        assert score.n == len(values)
        assert score.accuracy == pytest.approx(sum(values) / len(values))
        assert score.stderr == pytest.approx(mean_stderr(values))
    stem = ["college_physics", "high_school_biology", "anatomy"]  # lm-eval's stem group
    assert summary.groups["stem"].accuracy == pytest.approx(
        aggregate_subtask_metrics([summary.subjects[s].accuracy for s in stem], [SUBJECTS[s] for s in stem])
    )
    assert summary.groups["stem"].stderr == pytest.approx(
        pooled_sample_stderr([summary.subjects[s].stderr for s in stem], [SUBJECTS[s] for s in stem])
    )
    every = [v for values in per_subject.values() for v in values]
    assert summary.overall.n == len(every) and summary.overall.accuracy == pytest.approx(sum(every) / len(every))
    assert set(summary.groups) == {"stem", "humanities", "social_sciences"}  # only groups with questions
    assert summary.overall.format_valid is None


def test_single_question_has_no_stderr():
    summary = summarize([{"subject": "anatomy", "correct": True, "valid": True}], "acc")
    assert summary.subjects["anatomy"].stderr is None and summary.overall.accuracy == 1.0


def test_table_is_grouped_like_the_seed_card(rows):
    summary = summarize(rows, "acc_norm", with_format=True)
    text = markdown(summary, "MMLU", ["model: x"])
    lines = text.splitlines()
    order = [line.split("|")[1].strip() for line in lines if line.startswith("| ")]
    assert order[:11] == [
        "subject",
        "**College**",
        "college_physics",
        "**Professional**",
        "professional_law",
        "**High School**",
        "high_school_biology",
        "**Other**",
        "anatomy",
        "sociology",
        "**Overall**",
    ]
    assert "acc_norm (%) ± stderr" in text and "format valid (%)" in text
    assert "| stem | 20 |" in text  # the lm-eval group table follows
    assert summary.overall.format_valid == pytest.approx(sum(r["valid"] for r in rows) / len(rows))
    console = Console(record=True, width=120)
    console.print(rich_table(summary, "MMLU"))
    printed = console.export_text()
    assert "Professional" in printed and "high_school_biology" in printed and "Overall" in printed
