"""The engine contract: requests stream in, completions stream out as each request finishes.

Every engine (transformers, vLLM, OpenAI-compatible servers, ...) opens an `EngineStream`: `add` puts tagged
requests (`Job`s) into the engine, `wait` returns those that finished, in any order, each with its tag. The
caller bounds how many are inside at once (its window), so vLLM's continuous batching and a server's
concurrency stay full for a whole job instead of draining at every batch boundary. `Engine.generate` (a batch
in, one list of completions per request out, order kept) is a convenience on top of the stream; engines that
can only run static batches implement `generate` instead and get a batching stream for free.

The same `SamplingParams` map onto each engine; an engine that cannot honour a parameter raises
`UnsupportedParameter` instead of ignoring it.
"""

from __future__ import annotations

import shlex
from abc import ABC, abstractmethod
from collections.abc import Callable, Hashable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from harness.engines.scoring import Scored, ScoreRequest


class UnsupportedParameter(ValueError):
    """A sampling parameter this engine cannot honour."""


class DataParallelRefused(UnsupportedParameter):
    """vLLM's offline engine runs one data-parallel rank per process: `size` ranks of the model at `model_path`
    asked of one. The CLI turns it into the commands that do it (harness/cli/advice.py)."""

    def __init__(self, size: int, model_path: str) -> None:
        self.size, self.model_path = size, model_path
        served = shlex.join(["vllm", "serve", model_path, "--data-parallel-size", str(size), "--port", "8000"])
        super().__init__(
            f"data_parallel_size {size}: vLLM's offline engine runs one data-parallel rank per process. Run the "
            f"engine as {size} replicas on Ray instead (--ray auto --replicas {size}: one GPU each), or serve the "
            f"model with `{served}` and use --engine openai --base-url http://127.0.0.1:8000/v1 --model {model_path}"
        )


class EngineError(RuntimeError):
    """The engine cannot run at all as configured (bad key, unknown model, unreachable server).

    Problems with one request are not raised: they come back as `Completion.failed` rows.
    """


@dataclass(frozen=True)
class SamplingParams:
    temperature: float = 1.0  # 0 means greedy decoding
    top_p: float = 1.0
    top_k: int = 0  # keep only the k most likely tokens; 0 = off (generation configs' top_k)
    min_p: float = 0.0
    repetition_penalty: float = 1.0  # > 1 discourages tokens already in the text; 1 = off (also when greedy)
    max_tokens: int = 256
    n: int = 1
    stop: tuple[str, ...] = ()
    seed: int | None = None
    logprobs: int | None = None  # how many top alternatives to return per generated token

    def __post_init__(self) -> None:
        problems = []
        if not self.temperature >= 0:  # also catches NaN
            problems.append(f"temperature must be >= 0, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            problems.append(f"top_p must be in (0, 1], got {self.top_p}")
        if self.top_k < 0:
            problems.append(f"top_k must be >= 0 (0 = off), got {self.top_k}")
        if not self.repetition_penalty > 0:  # also catches NaN
            problems.append(f"repetition_penalty must be > 0 (1 = off), got {self.repetition_penalty}")
        if not 0 <= self.min_p < 1:  # NaN fails every comparison, so it lands here too
            problems.append(f"min_p must be in [0, 1), got {self.min_p}")
        if self.max_tokens < 1:
            problems.append(f"max_tokens must be >= 1, got {self.max_tokens}")
        if self.n < 1:
            problems.append(f"n must be >= 1, got {self.n}")
        if self.logprobs is not None and self.logprobs < 0:
            problems.append(f"logprobs must be >= 0, got {self.logprobs}")
        if any(not s for s in self.stop):
            problems.append("stop strings must not be empty")
        if problems:
            raise ValueError("; ".join(problems))

    def to_dict(self) -> dict[str, Any]:
        """Canonical form (provenance, cache keys). top_k and repetition_penalty only when set, so artifacts and
        cached generations from before they existed keep their identity."""
        data = {**asdict(self), "stop": list(self.stop)}
        for name, off in (("top_k", 0), ("repetition_penalty", 1.0)):
            if data[name] == off:
                del data[name]
        return data


@dataclass(frozen=True)
class Request:
    """Chat messages (rendered with the model's chat template) or a raw prompt, never both.

    `assistant_prefix` is text the assistant turn is forced to start with (e.g. `<|thinking_start|>\\n`);
    the completion continues it and does not repeat it.
    """

    messages: tuple[dict[str, str], ...] | None = None
    prompt: str | None = None
    assistant_prefix: str = ""

    def __post_init__(self) -> None:
        if (self.messages is None) == (self.prompt is None):
            raise ValueError("a Request holds either chat messages or a raw prompt, exactly one of them")
        if self.prompt is not None and self.assistant_prefix:
            raise ValueError("assistant_prefix only applies to chat messages; append it to the raw prompt")

    def to_dict(self) -> dict[str, Any]:
        """Canonical form, used for cache keys and provenance."""
        return {
            "messages": [dict(m) for m in self.messages] if self.messages is not None else None,
            "prompt": self.prompt,
            "assistant_prefix": self.assistant_prefix,
        }


@dataclass
class Completion:
    text: str
    # "stop" (end of turn or a stop string), "length" (max_tokens reached), or "error" (the request failed
    # after every retry: `error` says why, the text is empty, and it is never cached, so a rerun retries it)
    finish_reason: str
    prompt_tokens: int
    completion_tokens: int
    sample_idx: int = 0
    logprobs: list[dict[str, Any]] | None = field(default=None)
    error: str | None = None

    @classmethod
    def failed(cls, error: str, n: int) -> list[Completion]:
        """The `n` samples of a request that failed: one error row each, so no sample goes missing."""
        return [cls("", "error", 0, 0, sample_idx=i, error=error) for i in range(n)]

    @property
    def is_error(self) -> bool:
        return self.finish_reason == "error"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Completion:
        return cls(**data)


def render_with_template(tokenizer: Any, request: Request, model_path: str) -> str:
    """The exact text a local engine's model sees: a raw prompt as is, or the chat template's rendering of the
    messages with the generation prompt, then the forced assistant prefix. The transformers and vllm engines
    both render through this, so they tokenize the same text."""
    if request.prompt is not None:
        return request.prompt
    if tokenizer.chat_template is None:
        raise ValueError(f"model {model_path} has no chat template; send raw prompts instead")
    text = tokenizer.apply_chat_template(list(request.messages), tokenize=False, add_generation_prompt=True)
    return text + request.assistant_prefix


@dataclass(frozen=True)
class Job:
    """One request in a stream, with the caller's tag that comes back with its completions."""

    tag: Hashable
    request: Request
    params: SamplingParams


Finished = tuple[Hashable, list[Completion]]  # a job's tag and its `params.n` completions


class EngineStream(ABC):
    """Requests inside one engine. Not thread-safe: one caller adds and waits."""

    @abstractmethod
    def add(self, jobs: list[Job]) -> None:
        """Put jobs into the engine; they start as soon as it has room (never blocks on generation)."""

    @abstractmethod
    def wait(self) -> list[Finished]:
        """Block until at least one job has finished and return every finished one (any order); [] when none
        is inside."""

    @property
    @abstractmethod
    def in_flight(self) -> int:
        """Jobs added and not yet returned by `wait`."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Drop whatever is still inside (the caller was interrupted)."""


class BatchingStream(EngineStream):
    """A stream over an engine that runs static batches (`run(requests, params)` -> completions per request).

    Each `wait` runs one batch of at most `batch_size`: the oldest waiting job and, of the others with its
    sampling params, those closest to it in prompt length (`length`), so a batch pads little and no job waits
    behind ever newer shorter ones.
    """

    def __init__(
        self,
        run: Callable[[list[Request], SamplingParams], list[list[Completion]]],
        batch_size: int,
        length: Callable[[Request], int] | None = None,
    ) -> None:
        self.run, self.batch_size = run, batch_size
        self.length = length or _text_length
        self.waiting: list[Job] = []

    def add(self, jobs: list[Job]) -> None:
        self.waiting.extend(jobs)

    @property
    def in_flight(self) -> int:
        return len(self.waiting)

    def wait(self) -> list[Finished]:
        if not self.waiting:
            return []
        oldest = self.waiting[0]
        size = self.length(oldest.request)
        same = [j for j in self.waiting[1:] if j.params == oldest.params]
        batch = [oldest, *sorted(same, key=lambda j: abs(self.length(j.request) - size))[: self.batch_size - 1]]
        batch.sort(key=lambda j: self.length(j.request))
        params = oldest.params
        taken = {id(j) for j in batch}
        self.waiting = [j for j in self.waiting if id(j) not in taken]
        outputs = self.run([j.request for j in batch], params)
        return [(j.tag, out) for j, out in zip(batch, outputs, strict=True)]

    def close(self) -> None:
        self.waiting = []


def _text_length(request: Request) -> int:
    return len(request.prompt) if request.prompt is not None else sum(len(m["content"]) for m in request.messages)


def drain(stream: EngineStream, jobs: Iterable[Job], window: int) -> Iterator[Finished]:
    """Stream `jobs` through `stream` with at most `window` inside at once, refilled as they finish; yields each
    finished job (tag, completions) as soon as the engine returns it."""
    pending = iter(jobs)
    exhausted = False
    while True:
        while not exhausted and stream.in_flight < window:
            job = next(pending, None)
            if job is None:
                exhausted = True
            else:
                stream.add([job])
        if stream.in_flight == 0:
            return
        yield from stream.wait()


class Engine(ABC):
    """One engine. Heavy imports happen in the constructor, never at package import time.

    An engine implements `open_stream` (it can take requests while others run), or `generate` (static batches;
    it then streams through `BatchingStream`), or both."""

    name: str
    batch_size: int = 8  # static-batch engines: requests per batch

    def __new__(cls, *args: Any, **kwargs: Any):
        if cls.generate is Engine.generate and cls.open_stream is Engine.open_stream:
            raise TypeError(f"{cls.__name__} must implement open_stream or generate")
        return super().__new__(cls)

    @property
    def default_window(self) -> int:
        """How many requests to keep inside the engine when the caller does not say."""
        return self.batch_size * 4  # static batches: a few batches to sort by length

    def open_stream(self) -> EngineStream:
        return BatchingStream(self.generate, self.batch_size)

    def stream(self, jobs: Iterable[Job], window: int | None = None) -> Iterator[Finished]:
        """Completions of `jobs` as each finishes (any order, tagged), at most `window` requests inside."""
        stream = self.open_stream()
        try:
            yield from drain(stream, jobs, window or self.default_window)
        finally:
            stream.close()

    def generate(self, requests: list[Request], params: SamplingParams) -> list[list[Completion]]:
        """Return, for each request in order, `params.n` completions (sample_idx 0..n-1)."""
        if not requests:
            return []
        done = dict(self.stream((Job(i, r, params) for i, r in enumerate(requests)), window=len(requests)))
        return [done[i] for i in range(len(requests))]

    def describe(self) -> dict[str, Any]:
        """Engine facts for provenance (library versions, dtype, device)."""
        return {"engine": self.name}

    def score_prompts(self, requests: list[ScoreRequest], batch: int = 8) -> list[Scored]:
        """log p(continuation | context) per continuation token, for each request (harness.engines.scoring)."""
        raise UnsupportedParameter(f"the {self.name} engine cannot score prompts")

    def usage_totals(self) -> dict[str, Any]:
        """Running totals of what remote calls used (requests, retries, tokens, cost); empty for local engines."""
        return {}

    def close(self) -> None:  # noqa: B027 - optional hook
        """Free the engine's resources."""
