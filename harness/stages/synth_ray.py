"""`harness synth --ray`: synth's records run by engine replicas on a Ray cluster, committed here.

The same records (`synth_record`), committer and writer as `_generate` in synth.py; only where a record's
requests run differs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from rich.console import Console

from harness.artifacts.sources import SourceRow
from harness.engines.models import ResolvedModel
from harness.engines.stream_loop import Committer, RecordRun
from harness.progress import StageProgress
from harness.scale.ray_replicas import Fresh, ShardFacts, joined, plan_replicas, replica_config, run_replicas
from harness.stages.synth import SynthSummary, _tally, write_records


def generate_on_ray(
    rows: Iterable[SourceRow],
    record: Callable[[SourceRow], RecordRun],
    writer,
    failed: dict[str, str],
    cfg,
    model: ResolvedModel,
    provenance: dict[str, Any],
    total: int | None,
    summary: SynthSummary,
    console: Console,
) -> None:
    """Replicas run the records of `rows`; this process commits them as they arrive, as `_generate` does."""
    with joined(cfg.ray.address) as cluster:
        plan = plan_replicas(cfg.ray, cluster, cfg.threads, cfg.engine)
        cluster_facts = plan.facts(cluster)
        announce(console, cluster_facts)
        shard_facts = ShardFacts()

        def write(finished: list[list[dict[str, Any]]]) -> None:
            shard = {**provenance, **shard_facts.take(), **cluster_facts}
            summary.retried_rows += write_records(writer, finished, failed, shard)

        committer = Committer(write, len, cfg.shard_rows, cfg.commit_seconds)
        fresh = Fresh(lambda rows: rows[0]["record_id"])
        with StageProgress(f"synth {cfg.task}", total, console) as progress:
            try:
                runs = run_replicas(rows, record, replica_config(cfg, plan), model.fingerprint, plan, cfg.batch_size)
                for done in runs:
                    shard_facts.add(done)
                    summary.cache_hits += done.cache_hits
                    summary.generated_tokens += done.tokens
                    for record_rows in filter(fresh.new, done.results):
                        committer.add(record_rows)
                        _tally(summary, record_rows)
                    _add(summary.engine_usage, done.usage)
                    progress.advance(len(done.results), done.tokens)
            finally:
                committer.flush()  # finished records are whole: keep them, even when the run is interrupted
            summary.seconds = progress.elapsed


def _add(total: dict[str, Any], usage: dict[str, Any]) -> None:
    for key, value in usage.items():
        total[key] = total.get(key, 0) + value


def announce(console: Console, facts: dict[str, Any]) -> None:
    ray = facts["ray"]
    gpus = f", {ray['gpus_per_replica']} GPU(s) each" if ray["gpus_per_replica"] else ""
    console.print(
        f"Ray {ray['version']} at {ray['address']}: {ray['nodes']} node(s), {ray['replicas']} replica(s) of "
        f"{ray['threads_per_replica']} thread(s){gpus}",
        highlight=False,
    )
