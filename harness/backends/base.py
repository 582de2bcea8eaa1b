"""The engine contract: a batch of requests in, one list of completions per request out, order kept.

Every engine (transformers, vLLM, OpenAI-compatible servers, ...) implements `Backend.generate`. The same
`SamplingParams` map onto each of them; an engine that cannot honour a parameter raises
`UnsupportedParameter` instead of ignoring it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, field
from typing import Any


class UnsupportedParameter(ValueError):
    """A sampling parameter this engine cannot honour."""


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


class Backend(ABC):
    """One engine. Heavy imports happen in the constructor, never at package import time."""

    name: str

    @abstractmethod
    def generate(self, requests: list[Request], params: SamplingParams) -> list[list[Completion]]:
        """Return, for each request in order, `params.n` completions (sample_idx 0..n-1)."""

    def describe(self) -> dict[str, Any]:
        """Engine facts for provenance (library versions, dtype, device)."""
        return {"engine": self.name}

    def usage_totals(self) -> dict[str, Any]:
        """Running totals of what remote calls used (requests, retries, tokens, cost); empty for local engines."""
        return {}

    def close(self) -> None:  # noqa: B027 - optional hook
        """Free the engine's resources."""
