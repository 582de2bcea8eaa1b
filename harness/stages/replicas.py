"""The driver's side of `harness synth|judge --ray`: one loop that commits what engine replicas finish.

A stage describes its records as a `ReplicaJob`: what a replica runs for each item, and how the results are
committed, counted and shown. `run_on_replicas` joins the cluster, plans the replicas, and commits each result
as it arrives through a `Committer`, as the stage's single-process loop does; `Fresh` drops the results of a
task Ray retried after some of them had arrived, `ShardFacts` says in each shard which replicas did its rows.
Ray itself is harness/scale/ray_cluster.py (joining) and harness/scale/ray_replicas.py (planning, the actor
pool), which know no stage.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from rich.console import Console

from harness.artifacts.spill import SpillCounts
from harness.config import JudgeConfig, SynthConfig
from harness.cost import Prices
from harness.engines.stream_loop import Committer, RecordRun
from harness.progress import StageProgress
from harness.scale.ray_cluster import joined
from harness.scale.ray_replicas import ReplicaResult, end_replicas, plan_replicas, replica_config, run_replicas

Item = TypeVar("Item")  # what the stage hands out: an input row (synth), a question's rows (judge)
Result = TypeVar("Result")  # what a record returns: a row's output rows, a judged question


@dataclass(frozen=True)
class ReplicaJob(Generic[Item, Result]):
    """What the driver needs of a stage: everything that differs between synth and judge on replicas."""

    cfg: SynthConfig | JudgeConfig  # the cluster (`ray`), the replicas' engine and threads, `commit_seconds`
    fingerprint: str  # the model as the driver resolved it: a node that resolves another stops the run
    record: Callable[[Item], RecordRun[Result]]  # an item's record; pickled to the replicas, so no open files
    commit: Callable[[list[Result], dict[str, Any]], None]  # one shard of results, with the shard's facts
    rows: Callable[[Result], int]  # a result's rows, as the committer counts them towards `shard_rows`
    shard_rows: int
    key: Callable[[Result], str | None]  # the record a result is of; None: never dropped as a repeat
    tally: Callable[[Result], bool]  # a fresh result into the stage's summary; False: not committed
    progress_rows: Callable[[Result], int]  # what a committed result advances the progress bar by
    label: str  # the progress bar's
    total: int | None  # progress rows expected, when known
    engine_batch: int | None = None  # the transformers engine's static batch


@dataclass
class ReplicaTotals:
    """What the replicas' results add up to, for the stage's summary."""

    cache_hits: int = 0
    generated_tokens: int = 0
    engine_usage: dict[str, Any] = field(default_factory=dict)  # tokens, engine-seconds; remote: requests, retries
    seconds: float = 0.0


def run_on_replicas(job: ReplicaJob[Item, Result], items: Iterable[Item], console: Console) -> ReplicaTotals:
    """Replicas run the record of each of `items`; this process commits the results as they arrive."""
    cfg = job.cfg
    totals = ReplicaTotals()
    with joined(cfg.ray.address, cfg.verbose) as cluster:
        plan = plan_replicas(cfg.ray, cluster, cfg.threads, cfg.engine)
        cluster_facts = plan.facts(cluster)
        if cluster.note:
            console.print(f"--ray auto: {cluster.note}", highlight=False, soft_wrap=True)
        announce(console, cluster_facts)
        shard_facts = ShardFacts()

        def write(results: list[Result]) -> None:
            job.commit(results, {**shard_facts.take(), **cluster_facts})

        committer = Committer(write, job.rows, job.shard_rows, cfg.commit_seconds)
        fresh = Fresh(job.key)
        seen: set[tuple[str, int]] = set()  # the replicas, by node and pid
        with StageProgress(job.label, job.total, console) as progress:
            prices = Prices.of(cfg)  # the live spend, from the usage the replicas' results carry
            progress.spend = (lambda: prices.usd(totals.engine_usage)) if prices.priced else None
            try:
                runs = run_replicas(
                    items, job.record, replica_config(cfg, plan), job.fingerprint, plan, job.engine_batch
                )
                for done in runs:
                    seen.add((done.replica["node"], done.replica["pid"]))
                    shard_facts.add(done)
                    totals.cache_hits += done.cache_hits
                    totals.generated_tokens += done.tokens
                    _add(totals.engine_usage, done.usage)
                    rows = 0
                    for result in filter(fresh.new, done.results):
                        if job.tally(result):
                            committer.add(result)
                            rows += job.progress_rows(result)
                    progress.advance(rows, done.tokens)
            finally:
                committer.flush()  # finished records are whole: keep them, even when the run is interrupted
            totals.seconds = progress.elapsed
        end_replicas(seen)  # none left behind when the command returns
    return totals


def announce(console: Console, facts: dict[str, Any]) -> None:
    """One line on the cluster joined and the replicas planned, before any of them starts."""
    ray = facts["ray"]
    gpus = f", {ray['gpus_per_replica']} GPU(s) each" if ray["gpus_per_replica"] else ""
    console.print(
        f"Ray {ray['version']} at {ray['address']}: {ray['nodes']} node(s), {ray['replicas']} replica(s) of "
        f"{ray['threads_per_replica']} thread(s){gpus}",
        highlight=False,
    )


class Fresh:
    """Drops records this run already committed: a task Ray retried after its first result was delivered
    must not write a record twice. `key(result)` names a result's record; the keys spill to disk past
    `SPILL_BOUND`, so a 10M-row run does not hold 10M of them."""

    def __init__(self, key: Callable[[Any], str | None]) -> None:
        self.key = key
        self.committed = SpillCounts()

    def new(self, result: Any) -> bool:
        key = self.key(result)
        return key is None or self.committed.add(key) == 0


class ShardFacts:
    """What a shard committed from replicas' records records: the engine (as the first replica described
    it), the usage of the records since the last shard, and which replicas did them."""

    def __init__(self) -> None:
        self.engine: dict[str, Any] = {}
        self.usage: dict[str, Any] = {}
        self.replicas: dict[str, dict[str, Any]] = {}

    def add(self, finished: ReplicaResult) -> None:
        self.engine = self.engine or finished.provenance
        _add(self.usage, finished.usage)
        self.replicas[f"{finished.replica['node']}/{finished.replica['pid']}"] = finished.replica

    def take(self) -> dict[str, Any]:
        """This shard's facts; usage and replicas start over for the next one."""
        usage = {"engine_usage": self.usage} if self.usage else {}
        facts = {**self.engine, **usage, "replicas": list(self.replicas.values())}
        self.usage, self.replicas = {}, {}
        return facts


def _add(total: dict[str, Any], usage: dict[str, Any]) -> None:
    for key, value in usage.items():
        total[key] = total.get(key, 0) + value
