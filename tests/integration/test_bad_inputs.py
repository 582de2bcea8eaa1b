"""Every command refuses bad input the same way: exit 2, one or two lines on stderr naming the file, row,
column or flag, no traceback, and nothing written into an artifact that was there before.

The corpus (tests/integration/bad_inputs.py) runs in-process through typer's CliRunner, which calls the same
`main` as the console script; a few cases also run as real subprocesses, to show the two agree.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from harness.cli import app
from tests.integration.bad_inputs import Case, all_cases, make_files
from tests.unit.judged_samples import star_artifact

CASES = all_cases()
SUBPROCESS = ("synth-output-is-file", "synth-unknown-flag", "judge-altered", "train-input-broken", "report-truncated")


@pytest.fixture(scope="session")
def corpus_artifacts(tmp_path_factory, _session_model_path) -> Path:
    """A synth (star) artifact written by hand and the same judged by `exact`: inputs with no model. The
    default model is converted first (its progress bars are not part of any case's output)."""
    root = tmp_path_factory.mktemp("corpus")
    star_artifact(root / "star")
    result = CliRunner().invoke(app, ["judge", "-i", str(root / "star"), "-o", str(root / "judged"), "-j", "exact"])
    assert result.exit_code == 0, result.output
    return root


@pytest.fixture
def work(tmp_path, corpus_artifacts) -> Path:
    folder = tmp_path / "work"
    folder.mkdir()
    for name in ("star", "judged"):
        shutil.copytree(corpus_artifacts / name, folder / name)
    shutil.copytree(corpus_artifacts / "star", folder / "copy")
    (folder / "plain.txt").write_text("not an artifact\n")
    (folder / "sft.jsonl").write_text('{"messages": [{"role": "user", "content": "hi"}]}\n')
    return folder


def argv_of(case: Case, work: Path) -> list[str]:
    filled = case.argv.format(
        work=work, star=work / "star", judged=work / "judged", copy=work / "copy", file=work / "plain.txt",
        sft=work / "sft.jsonl",
    )  # fmt: skip
    return filled.split(" ")


def snapshot(work: Path) -> dict[Path, str]:
    return {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in work.rglob("*") if p.is_file()}


def artifact_folders(work: Path) -> list[Path]:
    return [p.parent for p in work.rglob(".harness")]


def assert_refused(code: int, stderr: str, stdout: str, case: Case) -> None:
    """Exit 2 and one or two lines from `error:` on; before it only the stage's own status lines (a stage may
    say what it is about to do, e.g. `[synth backfill] 120 input rows; preparing model ...`)."""
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert code == 2, f"exit {code}\nstderr:\n{stderr}\nstdout:\n{stdout}"
    assert "Traceback" not in stderr + stdout, stderr
    starts = [i for i, line in enumerate(lines) if line.startswith("error:")]
    assert len(starts) == 1 and 1 <= len(lines) - starts[0] <= 2, stderr
    assert case.names in "\n".join(lines[starts[0] :]), f"{case.names!r} not in: {stderr}"


def assert_artifacts_untouched(before: dict[Path, str], after: dict[Path, str], artifacts: list[Path]) -> None:
    changed = [p for p, digest in before.items() if after.get(p) != digest]
    added = [p for p in after.keys() - before.keys() if any(p.is_relative_to(a) for a in artifacts)]
    assert not changed and not added, f"written into an existing artifact: changed {changed}, added {added}"


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_one_clear_line(case: Case, work: Path):
    make_files(work, case.files)
    before, artifacts = snapshot(work), artifact_folders(work)
    result = CliRunner().invoke(app, argv_of(case, work))
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert_refused(result.exit_code, result.stderr, result.stdout, case)
    assert_artifacts_untouched(before, snapshot(work), artifacts)


@pytest.mark.parametrize("case_id", SUBPROCESS)
def test_bad_input_in_a_real_process(case_id: str, work: Path):
    case = next(c for c in CASES if c.id == case_id)
    make_files(work, case.files)
    before, artifacts = snapshot(work), artifact_folders(work)
    env = {**os.environ, "COLUMNS": "80"}
    run = subprocess.run(
        [sys.executable, "-m", "harness.cli", *argv_of(case, work)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert_refused(run.returncode, run.stderr, run.stdout, case)
    assert_artifacts_untouched(before, snapshot(work), artifacts)


def test_the_corpus_covers_every_command():
    import click
    import typer

    cli = typer.main.get_command(app)
    every = set(cli.list_commands(click.Context(cli)))  # what `harness --help` lists
    commands = {c.argv.split(" ")[0] for c in CASES}
    assert commands == every
    assert len(CASES) >= 100
