"""What every generating stage shares: bounded batches, and an engine session behind the generation cache."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

from harness.backends import make_backend
from harness.backends.base import Completion, Request, SamplingParams
from harness.cache import GenerationCache, cached_generate
from harness.models import ResolvedModel

T = TypeVar("T")


def batched(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """Lists of `size` items (the last may be shorter), taken lazily: memory holds one batch."""
    iterator = iter(items)
    while batch := list(itertools.islice(iterator, size)):
        yield batch


def fresh_tokens(completions: list[list[Completion]], hits: list[bool]) -> int:
    """Throughput counts only what the engine generated now, not what the cache replayed."""
    return sum(c.completion_tokens for samples, hit in zip(completions, hits, strict=True) if not hit for c in samples)


def usage_delta(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """What a remote engine's usage counters grew by (one shard's requests, retries, tokens, cost)."""
    return {k: v - (before.get(k) or 0) for k, v in after.items() if isinstance(v, int | float)}


def engine_options(cfg: Any) -> dict[str, Any]:
    """The engine's constructor options from a stage config (threads, and its `vllm`/`openai` section)."""
    threads = {"threads": cfg.threads} if cfg.threads else {}
    if cfg.engine == "vllm":
        return {**threads, **cfg.vllm.model_dump()}
    if cfg.engine == "openai":
        return cfg.openai.model_dump()
    return threads


class EngineSession:
    """An engine and the generation cache, closed together. The engine is built at the first request the
    cache cannot answer, so a run with nothing to generate, or whose every request is a cache hit (a parser
    changed, an output folder started over), loads no model. Counts cache hits and freshly generated tokens.
    `cfg` is a stage config with `engine`, `model`, `cache`, `threads`, `vllm` and `openai`; `model`, when the
    stage has resolved it already, saves resolving it twice."""

    def __init__(self, cfg: Any, model: ResolvedModel | None = None) -> None:
        self.engine, self.model_spec, self.use_cache = cfg.engine, cfg.model, cfg.cache
        self.base_url = cfg.openai.base_url
        self.options = engine_options(cfg)
        self.backend = None
        self.cache: GenerationCache | None = None
        self.model = model
        self._opened = False
        self.cache_hits = 0
        self.generated_tokens = 0
        self._reported_tokens = 0
        self.on_status: Callable[[str], None] | None = None  # told when the engine starts loading and is ready

    def check(self) -> None:
        """Settings errors a remote engine would hit only at its first request (no base URL, no model name),
        raised before any work. Local models are resolved (and the default one converted) on first use."""
        if self.engine == "openai":
            from harness.models import resolve_engine_model

            resolve_engine_model(self.model_spec, self.engine, self.base_url)

    @property
    def started(self) -> bool:
        return self.backend is not None

    def _open(self) -> None:
        """The model (its fingerprint keys the cache) and the cache; not the engine."""
        if self._opened:
            return
        if self.model is None:
            from harness.models import resolve_engine_model

            self.model = resolve_engine_model(self.model_spec, self.engine, self.base_url)
        self.cache = GenerationCache.default() if self.use_cache else None
        self._opened = True

    def start(self) -> None:
        """Build the engine now (the first cache miss does it otherwise)."""
        if self.backend is not None:
            return
        self._open()
        say = self.on_status or (lambda text: None)
        say(f"loading {self.model_spec} on the {self.engine} engine ...")
        started = time.perf_counter()
        self.backend = make_backend(self.engine, self.model.path, **self.options)
        say(f"{self.model_spec} ready in {time.perf_counter() - started:.0f}s; generating")

    def generate(self, requests: list[Request], params: SamplingParams) -> list[list[Completion]]:
        if not requests:
            return []
        self._open()
        completions, hits = cached_generate(_OnFirstMiss(self), self.cache, requests, params, self.model.fingerprint)
        self.cache_hits += sum(hits)
        self.generated_tokens += fresh_tokens(completions, hits)
        return completions

    def first_samples(self, requests: list[Request], params: SamplingParams) -> list[Completion]:
        """One completion per request (params.n must be 1); a failed one has `is_error` and its reason."""
        return [samples[0] for samples in self.generate(requests, params)]

    def usage(self) -> dict[str, Any]:
        """Remote engines' request, retry and token counts (empty for local engines)."""
        return self.backend.usage_totals() if self.backend is not None else {}

    def new_tokens(self) -> int:
        """Tokens generated since the last call (for progress)."""
        new, self._reported_tokens = self.generated_tokens - self._reported_tokens, self.generated_tokens
        return new

    def provenance(self) -> dict[str, Any]:
        """The engine's facts and the model, as synth records them (empty until the engine has started)."""
        return {"engine": self.backend.describe(), "model": self.model.to_dict()} if self.backend else {}

    def close(self) -> None:
        self._opened = False
        if self.cache is not None:
            self.cache.close()
            self.cache = None
        if self.backend is not None:
            self.backend.close()
            self.backend = None

    def __enter__(self) -> EngineSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _OnFirstMiss:
    """The engine as `cached_generate` sees it: its name (part of every cache key) is known up front, and it
    is built only when a request misses the cache."""

    def __init__(self, session: EngineSession) -> None:
        self.session = session
        self.name = session.engine

    def generate(self, requests: list[Request], params: SamplingParams) -> list[list[Completion]]:
        self.session.start()
        return self.session.backend.generate(requests, params)
