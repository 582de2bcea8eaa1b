"""`--ray` planning logic, without a cluster: how many replicas with what, task sizes, dedup, bad addresses.
The runs themselves go through a real local cluster in tests/integration/test_ray.py."""

from __future__ import annotations

import re

import pytest

from harness.config import ConfigError, RayOptions, SynthConfig
from harness.scale.ray_cluster import Cluster, join_error, joined, resolve
from harness.scale.ray_replicas import ReplicaResult, plan_replicas, records_per_task, replica_config
from harness.stages.replicas import Fresh, ShardFacts

CPU4 = Cluster(address="a:1", version="2.60.0", nodes=1, cpus=4, gpus=0)
GPU8 = Cluster(address="a:1", version="2.60.0", nodes=2, cpus=64, gpus=8)


def test_default_replicas_fill_the_cluster():
    assert plan_replicas(RayOptions(), CPU4, None, "transformers").replicas == 4  # one per CPU at 1 thread
    assert plan_replicas(RayOptions(), CPU4, 2, "transformers").replicas == 2  # one per --threads slice
    gpu = plan_replicas(RayOptions(), GPU8, None, "vllm")
    assert (gpu.replicas, gpu.gpus_per_replica) == (8, 1)  # one per GPU
    assert plan_replicas(RayOptions(gpus_per_replica=4), GPU8, None, "vllm").replicas == 2


@pytest.mark.parametrize(
    ("options", "cluster", "engine", "message"),
    [
        (RayOptions(replicas=5), CPU4, "transformers", "fits 4 replica(s)"),
        (RayOptions(gpus_per_replica=1), CPU4, "vllm", "has 0 GPU(s)"),
        (RayOptions(gpus_per_replica=2), GPU8, "transformers", "only the vllm engine"),
        (RayOptions(replicas=3, gpus_per_replica=4), GPU8, "vllm", "fits 2 replica(s) of 4 GPU(s)"),
    ],
)
def test_plans_the_cluster_cannot_hold_fail_before_any_work(options, cluster, engine, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        plan_replicas(options, cluster, None, engine)


def test_replica_config_sets_threads_and_tensor_parallel():
    cfg = SynthConfig(task="backfill", input="sample", output="o", engine="vllm", ray=RayOptions())
    plan = plan_replicas(RayOptions(gpus_per_replica=4), GPU8, None, "vllm")
    replica = replica_config(cfg, plan)
    assert replica.vllm.tensor_parallel_size == 4 and replica.threads == 1 and replica.ray is None
    assert replica.vllm.distributed_executor_backend == "mp"  # the replica's own GPUs, not new Ray workers
    cfg.vllm.tensor_parallel_size = 2
    with pytest.raises(ConfigError, match="disagree"):
        replica_config(cfg, plan)


def test_tasks_fill_a_window_and_a_small_run_is_split_over_every_replica():
    assert records_per_task(1_000_000, 2, 2048) == 2048  # a window at most
    assert records_per_task(16, 2, 32) == 8  # half each
    assert records_per_task(3, 4, 32) == 1


def test_a_record_delivered_twice_is_kept_once():
    fresh = Fresh(lambda rows: rows[0]["record_id"])
    first, again, other = [{"record_id": "a"}] * 2, [{"record_id": "a"}] * 2, [{"record_id": "b"}]
    assert list(filter(fresh.new, [first, other, again])) == [first, other]
    assert Fresh(lambda q: None).new("failed question")  # records without rows are never dropped


def test_shard_facts_sum_usage_and_name_the_replicas():
    facts = ShardFacts()
    for pid in (1, 2, 1):
        facts.add(ReplicaResult([], {"engine": {"engine": "openai"}}, {"requests": 2}, 5, 0, {"node": "n", "pid": pid}))
    taken = facts.take()
    assert taken["engine"] == {"engine": "openai"} and taken["engine_usage"] == {"requests": 6}
    assert [r["pid"] for r in taken["replicas"]] == [1, 2]
    assert "engine_usage" not in facts.take()  # the next shard starts over


@pytest.mark.parametrize(("address", "message"), [("nonsense", "HOST:PORT"), ("127.0.0.1:1", "no Ray cluster")])
def test_bad_addresses_fail_in_seconds(address, message):
    with pytest.raises(ConfigError, match=message), joined(address):
        pass


def test_auto_does_not_follow_an_address_file_naming_a_dead_head(tmp_path, monkeypatch):
    """Ray's address file outlives a killed head; Ray itself would retry that address for minutes."""
    import socket

    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    monkeypatch.setenv("RAY_TMPDIR", str(tmp_path))
    assert resolve("auto") == (None, "")  # no file: a local cluster, nothing to say
    with socket.socket() as probe:  # a port nobody listens on: bound, then closed
        probe.bind(("127.0.0.1", 0))
        dead = f"127.0.0.1:{probe.getsockname()[1]}"
    (tmp_path / "ray").mkdir()
    (tmp_path / "ray" / "ray_current_cluster").write_text(dead + "\n")
    target, note = resolve("auto")
    assert target is None and dead in note and "stopped or killed" in note and "local cluster instead" in note
    monkeypatch.setenv("RAY_ADDRESS", dead)  # asked for by name: joined, and refused in seconds if dead
    assert resolve("auto") == (dead, "")


def test_a_version_mismatch_names_both_versions_and_the_install():
    """Ray's message (ray/_private/utils.py check_version_info), as ray.init raises it."""
    raised = RuntimeError(
        "Version mismatch: The cluster was started with:\n    Ray: 2.59.0\n    Python: 3.11.7\n"
        "This process on node 10.0.0.2 was started with:\n    Ray: 2.60.0\n    Python: 3.11.7\n"
    )
    line = join_error("10.0.0.1:6379", raised)
    assert "cluster runs Ray 2.59.0 on Python 3.11.7, this machine Ray 2.60.0" in line
    assert "pip install 'ray[data]==2.59.0'" in line


@pytest.mark.parametrize(
    ("line", "address"),
    [
        (["--ray"], "auto"),
        (["--ray", "--limit", "3"], "auto"),
        (["--ray", "local"], "local"),
        (["--ray", "10.0.0.1:6379", "--limit", "3"], "10.0.0.1:6379"),
        (["--ray=10.0.0.1:6379"], "10.0.0.1:6379"),
        (["--limit", "3"], None),
    ],
)
def test_ray_alone_means_auto(monkeypatch, line, address):
    from typer.testing import CliRunner

    import harness.cli as cli
    import harness.stages.synth as synth

    seen = []

    def fake_run_synth(cfg, console):  # the parsed config is all this test is about
        seen.append(cfg)
        raise SystemExit(0)

    monkeypatch.setattr(synth, "run_synth", fake_run_synth)
    result = CliRunner().invoke(cli.app, ["synth", "--input", "sample", "-o", "unused", *line])
    assert result.exit_code == 0, result.output
    assert (seen[0].ray.address if seen[0].ray else None) == address
