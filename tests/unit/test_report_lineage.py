"""The report's lineage table reads as text: each artifact linked to the one it was made from (a selection to
its judged artifact too), settings as `name value` pairs rather than JSON, and no word broken in the HTML."""

from __future__ import annotations

from harness.config import JudgeConfig, ReportConfig, SelectConfig
from harness.stages.judge import run_judge
from harness.stages.report import run_report
from harness.stages.select import run_select
from tests.unit.judged_samples import star_artifact


def _lineage(tmp_path) -> dict[str, list[str]]:
    star_artifact(tmp_path / "star")
    run_judge(JudgeConfig(input=str(tmp_path / "star"), output=str(tmp_path / "judged"), judges=["exact"]))
    run_select(SelectConfig(mode="pairs", input=str(tmp_path / "judged"), output=str(tmp_path / "pairs")))
    run_report(
        ReportConfig(dirs=[str(tmp_path / d) for d in ("star", "judged", "pairs")], output=str(tmp_path / "report"))
    )
    markdown = (tmp_path / "report" / "report.md").read_text()
    table = markdown[markdown.index("## Lineage") :].split("\n\n")[2]
    header, _, *rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in table.splitlines()]
    return {row[0]: dict(zip(header, row, strict=True)) for row in rows}


def test_lineage_links_every_artifact_to_its_input_and_shows_settings_as_text(tmp_path):
    lineage = _lineage(tmp_path)
    assert "= #1 star" in lineage["#2 judged"]["produced from"]
    assert "= #2 judged" in lineage["#3 pairs"]["produced from"]  # select records its input as a bare folder
    assert lineage["#3 pairs"]["settings"] == "mode pairs"
    assert "{" not in lineage["#1 star"]["settings"]
    html = (tmp_path / "report" / "report.html").read_text()
    assert "overflow-wrap: anywhere" not in html  # it broke `transformers` into `transfo rmers` in narrow cells
