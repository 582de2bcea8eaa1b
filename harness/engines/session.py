"""What every generating stage shares: an engine session behind the generation cache, streamed or batched."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from harness.engines import make_engine
from harness.engines.base import Completion, EngineStream, Finished, Job, Request, SamplingParams, drain
from harness.engines.cache import GenerationCache, request_key
from harness.engines.models import ResolvedModel

if TYPE_CHECKING:
    from harness.config.engine import OpenAIOptions, VLLMOptions

T = TypeVar("T")


class EngineRun(Protocol):
    """What a stage config tells the engine session: the model, the engine and its section, threads, the cache
    (SynthConfig, JudgeConfig, and the judge config a loop builds, all have these)."""

    model: str
    engine: str
    threads: int | None
    cache: bool
    vllm: VLLMOptions
    openai: OpenAIOptions


def batched(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """Lists of `size` items (the last may be shorter), taken lazily: memory holds one batch."""
    iterator = iter(items)
    while batch := list(itertools.islice(iterator, size)):
        yield batch


def usage_delta(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """What the usage counters grew by (one shard's tokens and engine-seconds; a remote engine's requests)."""
    return {k: v - (before.get(k) or 0) for k, v in after.items() if isinstance(v, int | float)}


def engine_options(cfg: EngineRun, batch_size: int | None = None) -> dict[str, Any]:
    """The engine's constructor options from a stage config (threads, and its `vllm`/`openai` section);
    `batch_size`: the transformers engine's static batch."""
    threads = {"threads": cfg.threads} if cfg.threads else {}
    if cfg.engine == "vllm":
        return {**threads, **cfg.vllm.model_dump()}
    if cfg.engine == "openai":
        return cfg.openai.model_dump()
    return {**threads, **({"batch_size": batch_size} if batch_size else {})}


def default_window(cfg: EngineRun, batch_size: int | None = None) -> int:
    """Requests kept inside the engine when `--window` is not given: large for vLLM (continuous batching),
    twice the concurrency for a server (a request waits for each slot), a few batches for transformers (the
    prompts a batch is sorted from). Known before the engine is built: a run the cache answers builds none."""
    if cfg.engine == "vllm":
        from harness.engines.vllm_engine import DEFAULT_WINDOW

        return DEFAULT_WINDOW
    if cfg.engine == "openai":
        return 2 * cfg.openai.concurrency
    return 4 * (batch_size or 8)


class EngineSession:
    """An engine and the generation cache, closed together. The engine is built at the first request the
    cache cannot answer, so a run with nothing to generate, or whose every request is a cache hit (a parser
    changed, an output folder started over), loads no model. Counts cache hits and freshly generated tokens.
    `cfg` is a stage config (`EngineRun`, and optionally `window`); `model`, when the stage has resolved it already, saves resolving it twice; `batch_size` is the
    transformers engine's static batch."""

    def __init__(self, cfg: EngineRun, model: ResolvedModel | None = None, batch_size: int | None = None) -> None:
        self.engine, self.model_spec, self.use_cache = cfg.engine, cfg.model, cfg.cache
        self.base_url = cfg.openai.base_url
        self.options = engine_options(cfg, batch_size)
        # Requests kept inside the engine by `stream_records` (a stage's --window, else the engine's default).
        self.window = getattr(cfg, "window", None) or default_window(cfg, batch_size)
        self.loaded = None
        self.cache: GenerationCache | None = None
        self.model = model
        self._opened = False
        self.cache_hits = 0
        self.generated_tokens = 0
        self.prompt_tokens = 0  # of the requests the engine answered (cache hits cost nothing)
        self._engine_seconds = 0.0  # of engines closed already; the open one's are counted from `_since`
        self._since: float | None = None
        self._reported_tokens = 0
        self.on_status: Callable[[str], None] | None = None  # told when the engine starts loading and is ready

    def check(self) -> None:
        """Settings errors a remote engine would hit only at its first request (no base URL, no model name),
        raised before any work. Local models are resolved (and the default one converted) on first use."""
        if self.engine == "openai":
            from harness.engines.models import resolve_engine_model

            resolve_engine_model(self.model_spec, self.engine, self.base_url)

    @property
    def started(self) -> bool:
        return self.loaded is not None

    def _open(self) -> None:
        """The model (its fingerprint keys the cache) and the cache; not the engine."""
        if self._opened:
            return
        if self.model is None:
            from harness.engines.models import resolve_engine_model

            self.model = resolve_engine_model(self.model_spec, self.engine, self.base_url)
        self.cache = GenerationCache.default() if self.use_cache else None
        self._opened = True

    def start(self) -> None:
        """Build the engine now (the first cache miss does it otherwise)."""
        if self.loaded is not None:
            return
        self._open()
        say = self.on_status or (lambda text: None)
        say(f"loading {self.model_spec} on the {self.engine} engine ...")
        started = self._since = time.perf_counter()  # engine-seconds count from here: the load is paid for too
        self.loaded = make_engine(self.engine, self.model.path, **self.options)
        say(f"{self.model_spec} ready in {time.perf_counter() - started:.0f}s; generating")

    def open_stream(self) -> EngineStream:
        """A stream through the cache: hits come back at the next `wait` without entering the engine, misses
        are streamed (the engine is built at the first one) and cached as each finishes."""
        self._open()
        return _CachedStream(self)

    def generate(self, requests: list[Request], params: SamplingParams) -> list[list[Completion]]:
        """One batch through the stream, answers in request order."""
        if not requests:
            return []
        stream = self.open_stream()
        try:
            done = dict(drain(stream, (Job(i, r, params) for i, r in enumerate(requests)), len(requests)))
        finally:
            stream.close()
        return [done[i] for i in range(len(requests))]

    def first_samples(self, requests: list[Request], params: SamplingParams) -> list[Completion]:
        """One completion per request (params.n must be 1); a failed one has `is_error` and its reason."""
        return [samples[0] for samples in self.generate(requests, params)]

    def usage(self) -> dict[str, Any]:
        """Tokens the engine answered and its seconds since it started loading, what a run is charged for
        (harness/cost.py); a remote engine's own counts (requests, retries, and its tokens, as it bills them)
        take precedence. Empty while no engine has started (a run the cache answered)."""
        seconds = self._engine_seconds + (time.perf_counter() - self._since if self._since is not None else 0.0)
        if not seconds:
            return {}
        counted = {"prompt_tokens": self.prompt_tokens, "completion_tokens": self.generated_tokens}
        remote = self.loaded.usage_totals() if self.loaded is not None else {}
        return {**counted, **remote, "engine_seconds": seconds}

    def new_tokens(self) -> int:
        """Tokens generated since the last call (for progress)."""
        new, self._reported_tokens = self.generated_tokens - self._reported_tokens, self.generated_tokens
        return new

    def provenance(self) -> dict[str, Any]:
        """The engine's facts and the model, as synth records them (empty until the engine has started)."""
        return {"engine": self.loaded.describe(), "model": self.model.to_dict()} if self.loaded else {}

    def close(self) -> None:
        self._opened = False
        if self.cache is not None:
            self.cache.close()
            self.cache = None
        if self.loaded is not None:
            self.loaded.close()
            self.loaded = None
        if self._since is not None:
            self._engine_seconds += time.perf_counter() - self._since
            self._since = None

    def __enter__(self) -> EngineSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _CachedStream(EngineStream):
    """The session's engine stream behind the generation cache (see `EngineSession.open_stream`)."""

    def __init__(self, session: EngineSession) -> None:
        self.session = session
        self.inner: EngineStream | None = None
        self.ready: list[Finished] = []  # cache hits, returned at the next wait
        self.keys: dict[Any, str] = {}  # tag -> cache key, for the misses inside the engine

    @property
    def in_flight(self) -> int:
        return len(self.ready) + (self.inner.in_flight if self.inner is not None else 0)

    def add(self, jobs: list[Job]) -> None:
        session, cache = self.session, self.session.cache
        misses = jobs
        if cache is not None:
            keys = [request_key(j.request, j.params, session.model.fingerprint, session.engine) for j in jobs]
            found = cache.get_many(keys)
            misses = []
            for job, key in zip(jobs, keys, strict=True):
                if key in found:
                    self.ready.append((job.tag, found[key]))
                else:
                    self.keys[job.tag] = key
                    misses.append(job)
            session.cache_hits += len(jobs) - len(misses)
        if misses:
            if self.inner is None:
                session.start()
                self.inner = session.loaded.open_stream()
            self.inner.add(misses)

    def wait(self) -> list[Finished]:
        if self.ready:
            done, self.ready = self.ready, []
            return done
        if self.inner is None:
            return []
        done = self.inner.wait()
        self.session.generated_tokens += sum(c.completion_tokens for _, samples in done for c in samples)
        # A request's prompt is read once, however many samples it returns.
        self.session.prompt_tokens += sum(samples[0].prompt_tokens for _, samples in done if samples)
        if self.session.cache is not None:
            self.session.cache.put_answers({self.keys.pop(tag): samples for tag, samples in done})
        return done

    def close(self) -> None:
        if self.inner is not None:
            self.inner.close()
        self.ready, self.keys = [], {}
