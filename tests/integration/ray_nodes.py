"""A two-node Ray cluster on loopback, started as users start one: `ray start --head`, then `ray start --address`
for a second node, with Ray's token authentication on (as `ray start` turns it on where a token exists).

Each node is its own `ray start --block` process in its own process group (its raylet, GCS and workers are its
children) and is stopped by signalling that group: never `ray stop`, which would stop every Ray on the machine.
The token lives in the cluster's folder (RAY_AUTH_TOKEN_PATH), never in ~/.ray; the drivers the tests start get
that path but not RAY_AUTH_MODE, so joining a token cluster by address is the harness's own work.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

RAY = str(Path(sys.executable).with_name("ray"))
HEAD_PORT = 26600  # this suite's port range: 26600-26699
COMMON = ["--block", "--node-ip-address", "127.0.0.1", "--num-cpus", "1", "--num-gpus", "0", "--disable-usage-stats"]
COMMON += ["--object-store-memory", str(200 << 20)]
HEAD = ["--head", "--port", str(HEAD_PORT), "--include-dashboard", "false", "--ray-client-server-port", "26607"]
HEAD += ["--node-manager-port", "26601", "--object-manager-port", "26602", "--dashboard-agent-listen-port", "26603"]
HEAD += ["--metrics-export-port", "26604", "--runtime-env-agent-port", "26605", "--dashboard-agent-grpc-port", "26606"]
HEAD += ["--min-worker-port", "26610", "--max-worker-port", "26639"]
WORKER = ["--address", f"127.0.0.1:{HEAD_PORT}", "--node-manager-port", "26651", "--object-manager-port", "26652"]
WORKER += ["--dashboard-agent-listen-port", "26653", "--metrics-export-port", "26654"]
WORKER += ["--runtime-env-agent-port", "26655", "--dashboard-agent-grpc-port", "26656"]
WORKER += ["--min-worker-port", "26660", "--max-worker-port", "26699"]
START_SECONDS = 180


@dataclass
class Nodes:
    address: str
    token_file: Path
    folder: Path
    nodes: list[subprocess.Popen]  # each `ray start --block`, the leader of its own process group

    def driver_env(self) -> dict[str, str]:
        """A driver's environment: the token's file, as a user would point at it; Ray's temp folder apart."""
        env = {k: v for k, v in os.environ.items() if k not in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_ADDRESS")}
        return {**env, "RAY_AUTH_TOKEN_PATH": str(self.token_file), "RAY_TMPDIR": str(self.folder)}


def start_nodes() -> Nodes:
    folder = Path(tempfile.mkdtemp(prefix="clusters-", dir="/tmp"))  # short: Ray's socket paths live under it
    token = folder / "auth_token"
    token.write_text(secrets.token_hex(32))
    env = {**os.environ, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(token), "RAY_TMPDIR": str(folder)}
    env.pop("RAY_ADDRESS", None)
    nodes = Nodes(f"127.0.0.1:{HEAD_PORT}", token, folder, [])
    try:
        for name, flags in (("head", HEAD), ("worker", WORKER)):
            log = folder / f"{name}.log"
            command = [RAY, "start", *COMMON, *flags, "--temp-dir", str(folder / name)]
            with open(log, "wb") as out:
                proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
            nodes.nodes.append(proc)
            _wait_started(proc, log)
    except BaseException:
        stop_nodes(nodes)
        raise
    return nodes


def _wait_started(proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + START_SECONDS
    while b"Ray runtime started" not in log.read_bytes():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"ray start did not start: {log.read_text()[-3000:]}")
        time.sleep(0.2)


def stop_nodes(nodes: Nodes) -> None:
    """Each node's process group killed (its raylet, GCS and workers are in it), the worker node first."""
    for proc in reversed(nodes.nodes):
        _signal(proc.pid, signal.SIGKILL)
        proc.wait()
    shutil.rmtree(nodes.folder, ignore_errors=True)


def _signal(group: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(group, sig)
