"""`harness eval mmlu --preset structured-card`: the structured card's 12 subjects x 100 questions, its table."""

from __future__ import annotations

import re
from pathlib import Path

from harness.config import EvalConfig
from harness.evalsets.mmlu import load_mmlu
from reports.mmlu import summarize
from reports.mmlu_card import CARD_TABLE, SUBJECTS, card_markdown, comparison_markdown

CARD = (Path(__file__).parents[1] / "fixtures" / "cards" / "qwen2.5-grpo-structured.mmlu_table.md").read_text(
    encoding="utf-8"
)


def summary(accuracy: dict[str, float]):
    rows = []
    for subject, share in accuracy.items():
        right = round(100 * share)
        rows += [{"subject": subject, "correct": i < right, "valid": True} for i in range(100)]
    return summarize(rows, "acc", with_format=True)


def test_the_preset_is_the_cards_run():
    cfg = EvalConfig(output="x", preset="structured-card")
    assert cfg.subsets == SUBJECTS and len(SUBJECTS) == 12
    assert (cfg.limit, cfg.mode, cfg.task) == (100, "generative", "structured")
    assert EvalConfig(output="x", preset="structured-card", limit=5).limit == 5  # a setting given still wins
    assert set(SUBJECTS) <= set(load_mmlu("bundled", "test", None).subjects)


def test_the_table_is_the_cards_layout_and_names():
    """With the card's own figures the table is the card's text, character for character."""
    figures = {subject: card / 100 for _, rows in CARD_TABLE for subject, _, card in rows}
    assert card_markdown(summary(figures)) == CARD.split("\n\n> ")[0].rstrip("\n") + "\n"
    assert card_markdown(summary(figures), with_card=True) == card_markdown(summary(figures))


def test_the_table_shows_this_runs_accuracy_beside_the_cards():
    figures = dict.fromkeys(SUBJECTS, 0.25)
    table = card_markdown(summary(figures))
    assert table.count("| 25% |") == 12 and "| Medicine | 25% |" in table
    assert re.findall(r"^### .+$", table, re.MULTILINE) == [heading for heading, _ in CARD_TABLE]
    assert "| Management | 25% | 70% |" in comparison_markdown(summary(figures))
    partial = card_markdown(summary({"management": 0.5}))
    assert "| Management | 50% |" in partial and "| Medicine | - |" in partial


def test_the_preset_report_puts_the_cards_table_first_then_ours(tmp_path):
    from harness.engines.models import ResolvedModel
    from harness.stages.eval_mmlu import _write_reports

    cfg = EvalConfig(output=str(tmp_path), preset="structured-card")
    data = load_mmlu("bundled", "test", None)
    model = ResolvedModel("default", "/m", "fp", "default")
    (tmp_path / ".harness").mkdir()
    scored = summary(dict.fromkeys(SUBJECTS, 0.5))
    report, _ = _write_reports(tmp_path, cfg, data, {}, model, scored, "MMLU", {"lm_eval_version": "0.4.13"})
    text = report.read_text()
    card, beside, ours = (
        text.index("## As the card reports it"),
        text.index("## Beside the card"),
        text.index("## Every level"),
    )
    assert card < beside < ours and text.index("- model: `default`") < card
    assert card_markdown(scored) in text and "| **Overall** |" in text[ours:]
