"""Killing a stage's CLI run with SIGKILL mid-run, and checking its artifact folder's commit bookkeeping.

A shard is committed when its marker in `.harness/done/` is written, so committed rows are counted by marker:
a kill between a marker and its rename leaves the shard in `.harness/tmp/`, and the next run finishes it.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from pathlib import Path


def sigkill_after_commits(command: list[str], out: Path, commits: int, timeout: float = 300) -> int:
    """Start `command` (which writes the artifact folder `out`), SIGKILL its whole process group once `commits`
    shards are committed, and return the rows committed by then. The run must still be going at that point:
    finishing first means the test's run was too short to be killed mid-run."""
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    done = out / ".harness" / "done"
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and (not done.exists() or len(list(done.glob("*.json"))) < commits):
            assert proc.poll() is None, proc.stderr.read().decode()
            time.sleep(0.05)
        assert proc.poll() is None, "the run finished before it could be killed: give it more work"
    finally:
        with contextlib.suppress(ProcessLookupError):  # already gone: the assertion above says why
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()  # a batch was in flight: generated or not, it is not committed
    return committed_rows(out)


def committed_rows(out: Path) -> int:
    return sum(json.loads(p.read_text())["rows"] for p in (out / ".harness" / "done").glob("*.json"))


def assert_every_shard_committed(out: Path) -> None:
    """Nothing half-written is left, and every shard has its marker (and every marker its shard)."""
    assert not list((out / ".harness" / "tmp").iterdir())
    markers = {json.loads(p.read_text())["file"] for p in (out / ".harness" / "done").glob("*.json")}
    assert markers == {p.name for p in out.glob("*.parquet")}
