"""`harness rescore` on the session's real synth artifact (the default model's backfill traces): no flips with
unchanged verifiers, for the task's verdicts and for a real `harness judge` run's verifier; the flips and their
record ids once a stored verdict differs; and `harness report` over the output shows the flip table."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from harness.artifacts.writer import ArtifactWriter, read_provenance
from harness.cli import app
from tests.integration.reporting.conftest import RealArtifacts

pytestmark = pytest.mark.slow


def harness(*args: str):
    """The command in this process (the same `main` as the console script): rescore and report load no model."""
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result


def flips(folder: Path) -> dict[str, tuple[int, int, int]]:
    table = json.loads((folder / "rescore.json").read_text())["verdicts"]
    return {name: (v["pass_to_fail"], v["fail_to_pass"], v["other"]) for name, v in table.items()}


def test_rescore_of_a_real_synth_artifact_flips_nothing_and_the_report_shows_it(
    real_artifacts: RealArtifacts, tmp_path
):
    a = real_artifacts
    out = tmp_path / "rescored"
    result = harness("rescore", "--input", str(a.synth), "--output", str(out))
    assert result.stdout.strip() == str(out) and "0 verdict flips" in result.stderr
    found = flips(out)
    assert "valid" in found and "markers" in found  # backfill's first rule, reached by every row
    assert set(found.values()) == {(0, 0, 0)}
    judged, rejudged = tmp_path / "judged", tmp_path / "judged-rescored"
    harness("judge", "--input", str(a.synth), "--judge", "format", "--output", str(judged))
    harness("rescore", "--input", str(judged), "--output", str(rejudged))
    assert flips(rejudged) == {"judge_format": (0, 0, 0)}
    report = tmp_path / "report"
    harness("report", str(out), str(rejudged), "--output", str(report))
    md = (report / "report.md").read_text()
    assert "## Rescored verdicts" in md and "| #1 rescored | valid | backfill.parse 1+" in md
    assert "| #2 judged-rescored | judge_format | format " in md


def test_a_stored_verdict_that_differs_shows_as_a_flip_with_its_record_id(real_artifacts: RealArtifacts, tmp_path):
    a = real_artifacts
    shard = sorted(a.synth.glob("*.parquet"))[0]
    table = pq.read_table(shard)
    rows = table.to_pylist()
    first = rows[0]  # stored as its opposite: every verdict the model's text earned is flipped
    first["valid"] = not first["valid"]
    first["verdicts"] = [{**v, "passed": not v["passed"]} for v in first["verdicts"]]
    schema = table.schema.remove_metadata()
    src = tmp_path / "altered"
    with ArtifactWriter(src, schema, {"altered": str(a.synth)}).open({}) as writer:
        writer.commit(pa.Table.from_pylist(rows, schema=schema), read_provenance(shard))
    out = tmp_path / "rescored"
    result = harness("rescore", "--input", str(src), "--output", str(out))
    table = json.loads((out / "rescore.json").read_text())["verdicts"]
    for verdict in [*(v["name"] for v in first["verdicts"]), "valid"]:
        stored = (
            first["valid"]
            if verdict == "valid"
            else next(v["passed"] for v in first["verdicts"] if v["name"] == verdict)
        )
        direction = "pass_to_fail" if stored else "fail_to_pass"
        assert table[verdict][direction] == 1 and table[verdict]["examples"][direction] == [first["record_id"]]
        assert table[verdict]["pass_to_fail" if not stored else "fail_to_pass"] == 0
    assert f"valid {'pass' if first['valid'] else 'fail'}->" in result.stderr  # printed with its record id
    assert first["record_id"] in result.stderr
