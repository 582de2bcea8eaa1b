"""Faults around an artifact folder, through the CLI: a full disk mid-shard, two runs on one folder, a
SIGKILLed owner's lock, corrupted shards. The stage is `harness judge` with a verifier (no model), so each
test runs in a second or two; every stage commits through the same ArtifactWriter.

Each test compares the final artifact with a run that never met the fault: the same rows, each once.
"""

from __future__ import annotations

import contextlib
import errno
import os
import random
import signal
import string
import subprocess
import sys
import textwrap
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

import harness.artifacts.writer as artifacts
from harness.artifacts.reader import open_artifact
from harness.cli import app
from tests.integration.sigkill import assert_every_shard_committed
from tests.unit.judged_samples import star_artifact

QUESTIONS = 12


@pytest.fixture(scope="module")
def synth_dir(tmp_path_factory) -> Path:
    """A star artifact of 12 questions, 2 samples each, written by hand (as synth lays them out)."""
    rng = random.Random(0)
    # Incompressible padding makes shards big enough to fill a small disk in the tmpfs test.
    pad = "".join(rng.choices(string.ascii_letters, k=4000))
    samples = {i: [f"{pad}\n### Answer: {i}", f"Guess.\n### Answer: {i + 1}"] for i in range(QUESTIONS)}
    return star_artifact(tmp_path_factory.mktemp("faults") / "star", samples)


def judge(synth: Path, out: Path) -> list[str]:
    return ["judge", "-i", str(synth), "-o", str(out), "-j", "exact", "--batch-size", "2"]


def run(argv: list[str]):
    return CliRunner().invoke(app, argv)


def rows(folder: Path) -> pa.Table:
    table = pq.read_table(sorted(folder.glob("*.parquet"))).replace_schema_metadata(None)
    return table.sort_by([("source_index", "ascending"), ("sample_idx", "ascending")])


@pytest.fixture(scope="module")
def reference(synth_dir, tmp_path_factory) -> pa.Table:
    """The artifact of a run that met no fault."""
    out = tmp_path_factory.mktemp("reference") / "judged"
    assert run(judge(synth_dir, out)).exit_code == 0
    return rows(out)


def assert_complete(out: Path, reference: pa.Table) -> None:
    assert_every_shard_committed(out)
    open_artifact(out)  # readable, every shard matching its marker
    final = rows(out)
    assert final.num_rows == reference.num_rows == 2 * QUESTIONS
    assert final.equals(reference)


def one_error_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip() and not line.startswith("[judge")]
    assert len(lines) == 1 and lines[0].startswith("error:") and "Traceback" not in stderr, stderr
    return lines[0]


# -- a full disk ------------------------------------------------------------------------------------------------
def test_a_full_disk_mid_shard_stops_with_one_line_and_the_rerun_completes(synth_dir, reference, tmp_path, monkeypatch):
    out = tmp_path / "judged"
    real = artifacts._write_fsynced  # how a shard reaches tmp/, before its marker commits it
    calls = {"shards": 0}

    def fill_the_disk(path: Path, data: bytes) -> None:
        if path.parent.name == "tmp":
            calls["shards"] += 1
            if calls["shards"] == 3:  # the third shard: half its bytes reach the disk, then it is full
                path.write_bytes(data[: len(data) // 2])
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        real(path, data)

    monkeypatch.setattr(artifacts, "_write_fsynced", fill_the_disk)
    result = run(judge(synth_dir, out))
    assert result.exit_code == 2
    line = one_error_line(result.stderr)
    assert "No space left on device" in line and "part-00002.parquet" in line and "run the same command again" in line
    assert_every_shard_committed(out)  # two whole shards, nothing half written
    assert len(list(out.glob("*.parquet"))) == 2 and open_artifact(out).rows == 8

    monkeypatch.setattr(artifacts, "_write_fsynced", real)
    assert run(judge(synth_dir, out)).exit_code == 0
    assert_complete(out, reference)


def _mount_tmpfs(where: Path, size: str) -> bool:
    where.mkdir()
    return (
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)], capture_output=True
        ).returncode
        == 0
    )


def test_a_real_full_disk(synth_dir, reference, tmp_path):
    """A small tmpfs as the output's disk (needs root and mount; skipped elsewhere): the run stops with one
    line, and after the disk grows the same command completes."""
    disk = tmp_path / "disk"
    if not _mount_tmpfs(disk, "120k"):
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        out = disk / "judged"
        result = run(judge(synth_dir, out))
        assert result.exit_code == 2
        assert "No space left on device" in one_error_line(result.stderr)
        assert 0 < len(list(out.glob("*.parquet"))) < QUESTIONS // 2
        assert not list((out / ".harness" / "tmp").iterdir())
        subprocess.run(["mount", "-o", "remount,size=4m", str(disk)], check=True)
        assert run(judge(synth_dir, out)).exit_code == 0
        assert_complete(out, reference)
    finally:
        subprocess.run(["umount", str(disk)], check=False)


# -- two runs, one folder -------------------------------------------------------------------------------------------
HOLDER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    import pyarrow as pa
    from harness.artifacts.writer import ArtifactWriter
    writer = ArtifactWriter(Path(sys.argv[1]), pa.schema([("record_id", pa.string())]), {"holder": True}).open({})
    print("holding", flush=True)
    time.sleep(600)
    """
)


@contextlib.contextmanager
def lock_holder(out: Path):
    """A real process that opened `out` for writing (and so holds its lock); yields its Popen."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(out)], stdout=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        assert proc.stdout.readline().strip() == "holding"
        yield proc
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def test_a_second_run_on_the_same_folder_is_refused_and_a_killed_owner_leaves_no_stuck_lock(
    synth_dir, reference, tmp_path
):
    out = tmp_path / "judged"
    with lock_holder(out) as holder:
        result = run(judge(synth_dir, out))
        assert result.exit_code == 2
        assert "another harness process is writing to" in one_error_line(result.stderr)
        assert not list(out.glob("*.parquet"))  # refused at start: nothing interleaved
        os.killpg(holder.pid, signal.SIGKILL)  # the owner dies without cleaning up
        holder.wait()
    (out / ".harness" / "run.json").unlink()  # the holder's own run settings, not judge's
    assert (out / ".harness" / "lock").exists()  # the lock file stays; the OS lock went with its process
    assert run(judge(synth_dir, out)).exit_code == 0
    assert_complete(out, reference)


def test_two_real_processes_on_one_folder(synth_dir, tmp_path):
    """Two `harness judge` processes started together on one folder: one writes it, the other is refused
    (or finds it finished); never two writers."""
    out = tmp_path / "judged"
    command = [sys.executable, "-m", "harness.cli", *judge(synth_dir, out)]
    procs = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [(p.wait(timeout=120), p.stderr.read()) for p in procs]
    assert sorted(code for code, _ in results) in ([0, 0], [0, 2])
    for code, stderr in results:
        if code == 2:
            assert "another harness process is writing to" in stderr and "Traceback" not in stderr
    assert open_artifact(out).rows == 2 * QUESTIONS


# -- corrupted shards -----------------------------------------------------------------------------------------------
def _truncate(shard: Path) -> None:
    shard.write_bytes(shard.read_bytes()[:-100])


def _alter(shard: Path) -> None:
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0x01
    shard.write_bytes(bytes(data))


@pytest.mark.parametrize("damage", [_truncate, _alter], ids=["truncated", "altered"])
def test_a_corrupted_shard_is_named_on_read_and_resume_regenerates_exactly_its_records(
    damage, synth_dir, reference, tmp_path
):
    out = tmp_path / "judged"
    assert run(judge(synth_dir, out)).exit_code == 0
    shard = out / "part-00001.parquet"
    damage(shard)
    read = run(["report", str(out), "--output", str(tmp_path / "report")])
    assert read.exit_code == 2 and f"{shard}: corrupted" in one_error_line(read.stderr)

    resumed = run(judge(synth_dir, out))
    assert resumed.exit_code == 0, resumed.output
    assert f"{shard}: corrupted" in resumed.stderr and "generated again" in resumed.stderr
    assert "4 rows of 2 questions" in resumed.stderr  # exactly the set-aside shard's records, judged again
    assert (out / ".harness" / "corrupt" / shard.name).exists()  # kept aside for inspection, out of the artifact
    assert_complete(out, reference)
