"""`harness --help` is the first page a newcomer reads: every command, in the order a dataset goes through them."""

from __future__ import annotations

import re

from typer.testing import CliRunner

from harness.cli import app


def test_top_level_help_lists_the_commands_in_lifecycle_order():
    result = CliRunner().invoke(app, ["--help"], env={"COLUMNS": "120"})
    assert result.exit_code == 0
    listed = re.findall(r"^│ (\w+) ", result.output, flags=re.M)
    assert listed == ["synth", "judge", "select", "decontam", "eval", "train", "loop", "report", "push", "lineage"]
