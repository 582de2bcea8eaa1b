"""Every refusal's advice is a command that works as printed: the command is the user's own, as typed, changed
where the advice says. Each printed command here is run, or (the GPU one) parsed by the real CLI's parser."""

from __future__ import annotations

import json
import re
import shlex

import pyarrow.parquet as pq
import typer
from typer.testing import CliRunner

from harness.cli import app


def parse(line: list[str]) -> dict:
    """`harness ...` read by the CLI's own parser, with every option's checks, without running it (no --help)."""
    assert line[0] == "harness", line
    group = typer.main.get_command(app)
    name, *rest = line[1:]
    command = group.get_command(group.make_context("harness", [name]), name)
    return command.make_context(name, rest).params


def test_push_of_a_users_file_advises_decontam_then_push(tmp_path):
    rows = tmp_path / "my rows.jsonl"  # a space: the printed command quotes it
    rows.write_text(json.dumps({"instruction": "Name a prime number between 10 and 12.", "completion": "11"}) + "\n")
    out = tmp_path / "hub"
    refused = CliRunner().invoke(app, ["push", str(rows), "--repo-id", "me/rows", "--to-dir", str(out), "--private"])
    assert refused.exit_code == 2 and "not an artifact folder" in refused.output, refused.output
    advice = re.findall(r"`(harness [^`]+)`", refused.output)
    assert [shlex.split(a)[1] for a in advice] == ["decontam", "push"], refused.output
    for command in advice:
        argv = [str(tmp_path / "checked") if a == "DIR" else a for a in shlex.split(command)[1:]]
        done = CliRunner().invoke(app, argv)
        assert done.exit_code == 0, done.output
    assert pq.read_table(out / "data").column("completion").to_pylist() == ["11"]
    assert "private" in parse(shlex.split(advice[1]))


def test_rescore_of_a_users_file_says_why_and_advises_a_judge_run_that_works(tmp_path, monkeypatch):
    from tests.unit.judged_samples import star_artifact

    monkeypatch.chdir(tmp_path)  # the advised --output lies beside the input
    rows = tmp_path / "rows.jsonl"
    rows.write_text("".join(json.dumps({"question": "2+2?", "completion": c, "reference": "4"}) + "\n" for c in "45"))
    star = star_artifact(tmp_path / "star")  # a synth artifact's rows, saved as a file: no provenance left
    pq.write_table(pq.read_table(star / "part-00000.parquet").replace_schema_metadata(None), tmp_path / "star.parquet")
    scores = {}
    for path, judge in ((rows, "exact"), (tmp_path / "star.parquet", "format")):
        refused = CliRunner().invoke(app, ["rescore", "--input", path.name, "--output", "r"])
        assert refused.exit_code == 2 and "rescore needs one" in refused.output, refused.output
        [advice] = re.findall(r"`(harness [^`]+)`", " ".join(refused.output.split()))
        assert f"--judge {judge}" in advice, advice
        done = CliRunner().invoke(app, shlex.split(advice)[1:])
        assert done.exit_code == 0, done.output
        scores[judge] = (
            pq.read_table(f"{path.stem}-judged/part-00000.parquet").column(f"judge_{judge}_score").to_pylist()
        )
    assert scores["exact"] == [1.0, 0.0]
    stored = pq.read_table(star / "part-00000.parquet", columns=["valid"]).column("valid").to_pylist()
    assert scores["format"] == [float(v) for v in stored]  # the task's own verdicts, as rescore would give them
