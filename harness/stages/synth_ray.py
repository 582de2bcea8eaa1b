"""`harness synth --ray`: synth's engine loop with its batches run by engine replicas on a Ray cluster.

The same batches, batch function and writer as `_generate` in synth.py; only where a batch runs differs.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console

from harness.models import ResolvedModel
from harness.progress import StageProgress
from harness.ray_runner import Fresh, joined, plan_replicas, replica_config, run_replicas
from harness.stages.synth import SynthSummary, _tally


def generate_on_ray(
    batches, run_batch, write_batch, cfg, model: ResolvedModel, provenance, total, summary: SynthSummary, console
) -> None:
    """Replicas run the batches; this process commits each finished batch as one shard, as `_generate` does."""
    with joined(cfg.ray.address) as cluster:
        plan = plan_replicas(cfg.ray, cluster, cfg.threads, cfg.engine)
        facts = plan.facts(cluster)
        _announce(console, facts)
        fresh = Fresh()
        with StageProgress(f"synth {cfg.task}", total, console) as progress:
            finished = run_replicas(batches, run_batch, replica_config(cfg, plan), model.fingerprint, plan)
            for done in finished:
                rows = fresh.rows(done.result)
                if rows:
                    usage = {"engine_usage": done.usage} if done.usage else {}
                    shard = {**provenance, **done.provenance, **usage, **facts, "replica": done.replica}
                    summary.retried_rows += write_batch(rows, provenance=shard)
                    _tally(summary, rows, done.items, done.tokens, done.cache_hits)
                    _add(summary.engine_usage, done.usage)
                progress.advance(done.items, done.tokens)
            summary.seconds = progress.elapsed


def _add(total: dict[str, Any], usage: dict[str, Any]) -> None:
    for key, value in usage.items():
        total[key] = total.get(key, 0) + value


def _announce(console: Console, facts: dict[str, Any]) -> None:
    ray = facts["ray"]
    gpus = f", {ray['gpus_per_replica']} GPU(s) each" if ray["gpus_per_replica"] else ""
    console.print(
        f"Ray {ray['version']} at {ray['address']}: {ray['nodes']} node(s), {ray['replicas']} replica(s) of "
        f"{ray['threads_per_replica']} thread(s){gpus}",
        highlight=False,
    )
