"""Joining a Ray cluster for `--ray` (`joined`), and leaving nothing of the run behind.

A cluster started with `ray start --head`, as Ray 2.60 ships it, asks every client for its token: `ray start`
turns token authentication on when this machine has a token (`~/.ray/auth_token`, which the first `ray.init()`
writes), and then a driver that joins by address must send it, which Ray does only with `RAY_AUTH_MODE=token` set
before it is imported. Ray itself retries a refused or dead address for 20 s to minutes and then says only
"Failed to connect"; so before `ray.init` the head is asked once, in milliseconds, over gRPC (the call Ray's
own clients make first) whether it answers and whether it takes this machine's token, and every way that
fails is one line saying what to do. `--ray auto` follows Ray's address file, which still names a head that
was killed: such a dead address is said so, and a local cluster is started instead.

Ray's own warnings and log lines are hidden unless `--verbose`. When the command returns, the replicas are
gone: Ray kills a driver's actors when it disconnects, and the processes of a local cluster started here (this
process's descendants), whose workers would otherwise outlive their raylet by up to a minute, are waited for
after its shutdown and then killed by pid.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import signal
import socket
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.config import ConfigError

PROBE_SECONDS = 5.0
TOKEN_FILE = Path("~/.ray/auth_token")  # where `ray start` and `ray.init()` keep this machine's token
GCS_PROBE = "/ray.rpc.NodeInfoGcsService/GetClusterId"  # the first call a Ray client makes to a head
ASK_HEAD = "or `export RAY_AUTH_TOKEN=...` set to what `ray get-auth-token` prints on the head"
WORKERS_EXIT_SECONDS = 3.0


@dataclass(frozen=True)
class Cluster:
    """What the driver connected to, as provenance records it."""

    address: str
    version: str
    nodes: int
    cpus: int
    gpus: int
    note: str = ""  # how `auto` chose it, when that is worth a line


@contextlib.contextmanager
def joined(address: str, verbose: bool = False) -> Iterator[Cluster]:
    """Join the cluster at `address` for the block: `auto` (RAY_ADDRESS, else the cluster `ray start` began on
    this machine, else a new local one), `local` (always a new local cluster of this machine), or HOST:PORT.
    A process already joined (a test's cluster) stays joined; a local cluster started here stops after, and
    its worker processes with it."""
    if "ray" in sys.modules and sys.modules["ray"].is_initialized():
        yield describe()
        return
    target, note = resolve(address)
    if target is not None:
        _prepare_auth(address, target)
    import ray

    level = logging.INFO if verbose else logging.ERROR
    options: dict[str, Any] = {"log_to_driver": verbose, "logging_level": level}
    if target is None:
        options["include_dashboard"] = False
    with _core_lines_hidden(verbose):
        try:
            ray.init(address=target or "local", **options)  # logging_level: its warnings only with --verbose
        except (ConnectionError, ValueError, RuntimeError) as err:
            raise ConfigError(join_error(address, err)) from err
        workers: set[int] = set()
        try:
            yield describe(note)
            if target is None:
                workers = _local_workers()
        finally:
            ray.shutdown()
            _wait_or_kill(workers)


def resolve(address: str) -> tuple[str | None, str]:
    """The address to join (None: start a local cluster) and, for `auto`, a line on how it was chosen."""
    if address == "local":
        return None, ""
    if address != "auto":
        host, _, port = address.removeprefix("ray://").rpartition(":")
        if not host or not port.isdigit():
            raise ConfigError(f"--ray {address}: expected auto, local or HOST:PORT (e.g. 10.0.0.1:6379)")
        return address, ""
    if os.environ.get("RAY_ADDRESS"):
        return os.environ["RAY_ADDRESS"], ""
    file = address_file()
    named = file.read_text().strip() if file.is_file() else ""
    if not named:
        return None, ""
    if _answers(named):
        return named, f"the cluster `ray start` began here ({file})"
    return None, (
        f"{file} names {named}, where no Ray cluster answers (a head that was stopped or killed): "
        "started a local cluster instead"
    )


def address_file() -> Path:
    """Ray's record of the last cluster `ray start` began on this machine (its temp folder: RAY_TMPDIR, else
    TMPDIR, else /tmp)."""
    base = os.environ.get("RAY_TMPDIR") or os.environ.get("TMPDIR") or "/tmp"
    return Path(base) / "ray" / "ray_current_cluster"


def _answers(target: str) -> bool:
    host, _, port = target.removeprefix("ray://").rpartition(":")
    try:
        socket.create_connection((host, int(port)), timeout=PROBE_SECONDS).close()
    except (OSError, ValueError):
        return False
    return True


def _prepare_auth(address: str, target: str) -> None:
    """Ask the head whether it answers and takes this machine's token; set token mode when it wants one."""
    if not _answers(target):
        raise ConfigError(
            f"--ray {address}: no Ray cluster answers at {target}; start one with `ray start --head`, "
            "or use --ray local"
        )
    if target.startswith("ray://"):
        return  # Ray Client: its own protocol, checked by ray.init
    if _probe(target, None) != "UNAUTHENTICATED":
        return
    token, where = _token()
    if token is None:
        raise ConfigError(
            f"--ray {address}: the cluster there wants its token (Ray's token authentication) and this machine "
            f"has none: copy the head's {TOKEN_FILE} to {TOKEN_FILE} here, {ASK_HEAD}"
        )
    if _probe(target, token) == "UNAUTHENTICATED":
        raise ConfigError(
            f"--ray {address}: the cluster there refused the token in {where}, which is not the head's: "
            f"replace it with the head's {TOKEN_FILE}, {ASK_HEAD}"
        )
    if os.environ.get("RAY_AUTH_MODE") != "token":
        os.environ["RAY_AUTH_MODE"] = "token"  # read by Ray's core when it loads its config
        if "ray" in sys.modules:  # already imported (and its config loaded): load it again, as Ray itself does
            from ray._raylet import Config

            Config.initialize("")


def _token() -> tuple[str | None, str]:
    """This machine's Ray token and where it came from, in the order Ray reads them."""
    if os.environ.get("RAY_AUTH_TOKEN"):
        return os.environ["RAY_AUTH_TOKEN"].strip(), "RAY_AUTH_TOKEN"
    path = Path(os.environ.get("RAY_AUTH_TOKEN_PATH") or TOKEN_FILE).expanduser()
    if path.is_file() and path.read_text().strip():
        return path.read_text().strip(), str(path)
    return None, ""


def _probe(target: str, token: str | None) -> str:
    """The gRPC status of the head's first call: OK, UNAUTHENTICATED, UNAVAILABLE, ..."""
    import grpc  # Ray's own dependency

    metadata = [("authorization", f"Bearer {token}")] if token else None
    with grpc.insecure_channel(target) as channel:
        call = channel.unary_unary(GCS_PROBE, request_serializer=None, response_deserializer=None)
        try:
            call(b"", timeout=PROBE_SECONDS, metadata=metadata)
        except grpc.RpcError as err:
            return err.code().name
    return "OK"


VERSIONS = re.compile(r"Ray: (\S+)\s+Python: (\S+)\s+This process.*?Ray: (\S+)\s+Python: (\S+)", re.S)


def join_error(address: str, err: BaseException) -> str:
    """One line for what ray.init raised: a version mismatch says which versions, and what to install."""
    versions = VERSIONS.search(str(err))
    if "Version mismatch" in str(err) and versions:
        ray, python, my_ray, my_python = versions.groups()
        return (
            f"--ray {address}: the cluster runs Ray {ray} on Python {python}, this machine Ray {my_ray} on Python "
            f"{my_python}; drivers and nodes need the same: `pip install 'ray[data]=={ray}'` here (and Python "
            f"{python}), or start the cluster with this machine's versions"
        )
    return f"--ray {address}: cannot join a Ray cluster there ({err})"


def describe(note: str = "") -> Cluster:
    import ray

    resources = ray.cluster_resources()
    return Cluster(
        address=ray.get_runtime_context().gcs_address,
        version=ray.__version__,
        nodes=sum(1 for node in ray.nodes() if node.get("Alive")),
        cpus=int(resources.get("CPU", 0)),
        gpus=int(resources.get("GPU", 0)),
        note=note,
    )


# A line of Ray's C++ core: "[2026-12-06 22:44:17,795 E 25496 25496] core_worker.cc:2465: ..."
CORE_LINE = re.compile(rb"^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ [DIWEF] \d+ \d+\] ")


@contextlib.contextmanager
def _core_lines_hidden(verbose: bool) -> Iterator[None]:
    """Ray's C++ core writes its log lines (a warning about actor restarts, the level it was told) straight to
    file descriptor 2, past Python's logging. For the block, fd 2 is a pipe that drops those lines and passes
    everything else on, while Python's own stderr (the progress, the summary) writes to the terminal as before."""
    if verbose:
        yield
        return
    try:
        sys.stderr.flush()
        terminal = os.dup(2)
    except (OSError, ValueError):  # no usable stderr: nothing to keep clean
        yield
        return
    read, write = os.pipe()
    os.dup2(write, 2)
    os.close(write)
    python_stderr = sys.stderr
    sys.stderr = open(os.dup(terminal), "w", buffering=1, encoding=getattr(python_stderr, "encoding", None))  # noqa: SIM115

    def forward() -> None:
        with open(read, "rb") as pipe:
            for line in pipe:
                if not CORE_LINE.match(line):
                    os.write(terminal, line)

    pump = threading.Thread(target=forward, name="ray-stderr", daemon=True)
    pump.start()
    try:
        yield
    finally:
        sys.stderr.flush()
        sys.stderr.close()
        sys.stderr = python_stderr
        os.dup2(terminal, 2)  # the pipe ends when the last process that inherited it (a local raylet) is gone
        pump.join(timeout=1)
        if not pump.is_alive():
            os.close(terminal)


def _local_workers() -> set[int]:
    """The processes of the local cluster this driver started: its descendants (GCS, raylet and the workers the
    raylet started, the replicas among them). Linux's /proc; elsewhere none, and they exit on their own."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            parent = int(stat.read_text().rpartition(")")[2].split()[1])
            children.setdefault(parent, []).append(int(stat.parent.name))
    found: set[int] = set()
    pending = [os.getpid()]
    while pending:
        for child in children.get(pending.pop(), []):
            if child not in found:
                found.add(child)
                pending.append(child)
    return found


def _wait_or_kill(pids: set[int]) -> None:
    """Wait for a local cluster's workers to exit after its shutdown; kill those still there."""
    deadline = time.monotonic() + WORKERS_EXIT_SECONDS
    alive = set(pids)
    while alive and time.monotonic() < deadline:
        alive = {p for p in alive if _exists(p)}
        if alive:
            time.sleep(0.1)
    for pid in alive:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)


def _exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie (exited, not yet reaped by its parent) is gone for our purposes
    with contextlib.suppress(OSError):
        if Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] == "Z":
            return False
    return True
