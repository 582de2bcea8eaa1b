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
