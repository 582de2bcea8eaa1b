"""Whether a request fits the model's context, decided before anything large is built from it.

A local engine (transformers, vllm) asks `ContextCheck.fit` for a request's prompt ids: it gets them, or the
reason the request cannot fit (its prompt plus `max_tokens` would pass the context), which the engine returns
as that request's failed completions: one error row, never a crash, and the other requests run on. The check
looks at characters first, as vLLM's server does: no token is longer than the vocabulary's longest entry, so a
text longer than that times the room left cannot fit, and is refused before it is rendered or tokenized (a
12M-character prompt would otherwise take gigabytes to tokenize and then ask the model for far more to attend
over). Only texts that may fit are tokenized, so tokenizing costs at most the context's worth of characters.

The openai engine cannot know a server's context: the server checks, and `server_overflow` reads its refusal
(an error code, else its words) into the same kind of reason, so every engine's such rows are `is_overflow`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from harness.engines.base import Request

# `fit` returns this kind of answer: the prompt's token ids, or why the request cannot run
Fit = tuple[list[int] | None, str | None]
# Every refusal's reason starts so: a row that failed for it fails again on a rerun with the same settings.
TOO_LONG = "prompt too long for the context"
OVERFLOW = "context_overflow"  # the verdict of such a row (the synth stage's; `engine_error` for other failures)


# A server's own refusal of a prompt past its context: OpenAI's and llama.cpp's error codes, else the words of
# vLLM ("This model's maximum context length is ..."), SGLang, llama.cpp and hosted APIs. Lower case.
SERVER_CODES = frozenset({"context_length_exceeded", "exceed_context_size_error", "string_above_max_length"})
SERVER_WORDS = (
    "maximum context length",
    "context length exceeded",
    "longer than the model's context length",
    "longer than the maximum model length",
    "exceeds the available context size",
    "prompt is too long",
    "input is too long",
)
SERVER_ADVICE = (
    "shorten the input, lower --max-tokens, or serve the model with a longer context (vllm: --max-model-len)"
)


def is_overflow(error: str | None) -> bool:
    """Whether a failed request's reason is a refusal for its length (by this check or the server): a rerun
    with the same settings fails it again, unlike an engine error."""
    return error is not None and error.startswith(TOO_LONG)


def server_overflow(status: int, code: object, message: str) -> str | None:
    """A remote server's answer as a context refusal's reason (starting with TOO_LONG, so `is_overflow` knows
    it), or None when the answer is some other error. By the error code where the server sends one, else by
    its message; only a 4xx answer: the request itself, not the server, is at fault."""
    if not 400 <= status < 500:
        return None
    if str(code or "").lower() not in SERVER_CODES and not any(w in message.lower() for w in SERVER_WORDS):
        return None
    return f"{TOO_LONG}: the server refused it (HTTP {status}: {message}); {SERVER_ADVICE}"


def content_chars(request: Request) -> int:
    """Characters the request brings (its prompt, or its messages' contents and prefix): no more than the
    rendered text has, so a bound on it holds for the rendering too. Reads lengths only, copies nothing."""
    if request.prompt is not None:
        return len(request.prompt)
    return sum(len(m.get("content") or "") for m in request.messages) + len(request.assistant_prefix)


def model_context(config: Any, tokenizer: Any) -> int | None:
    """The context a transformers model was built for (its position embeddings), else the tokenizer's
    `model_max_length` when that is a real number (it is a huge sentinel when unset); None when unknown."""
    for name in ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length"):
        if isinstance(value := getattr(config, name, None), int) and value > 0:
            return value
    limit = getattr(tokenizer, "model_max_length", None)
    return limit if isinstance(limit, int) and 0 < limit < 10**8 else None


class ContextCheck:
    """Requests against one model's context (`context` tokens; None: unknown, nothing is refused).
    `render(request)` is the engine's exact text; `advice` ends every refusal (what the user can change)."""

    def __init__(
        self,
        tokenizer: Any,
        context: int | None,
        render: Callable[[Request], str],
        advice: str = "shorten the input or lower --max-tokens",
    ) -> None:
        self.tokenizer, self.context, self.render, self.advice = tokenizer, context, render, advice
        # As vLLM's tokenizer wrapper computes it: the longest vocabulary entry, in characters (byte-level
        # vocabularies spell a byte as one character, so this bounds the characters of any token).
        self.max_chars_per_token = max((len(t) for t in tokenizer.get_vocab()), default=1) or 1

    def fit(self, request: Request, max_tokens: int) -> Fit:
        """(prompt ids, None) when the prompt plus `max_tokens` fits the context, else (None, the reason)."""
        if self.context is None:
            return self.token_ids(self.render(request), request), None
        room = self.context - max_tokens  # tokens left for the prompt
        if room < 1:
            return None, (
                f"{TOO_LONG}: max_tokens is {max_tokens} and the model's context is {self.context} tokens, which "
                f"leaves no room for the prompt; {self.advice}"
            )
        bound = room * self.max_chars_per_token  # characters that `room` tokens can hold at most
        if (chars := content_chars(request)) > bound:
            return None, self._too_long(f"{chars:,} characters (more than {room} tokens can hold)", max_tokens)
        text = self.render(request)
        if len(text) > bound:
            return None, self._too_long(f"{len(text):,} characters once rendered", max_tokens)
        ids = self.token_ids(text, request)
        if len(ids) > room:
            return None, self._too_long(f"{len(ids)} tokens", max_tokens)
        return ids, None

    def token_ids(self, text: str, request: Request) -> list[int]:
        # Chat templates carry their own special tokens; raw prompts get the tokenizer's (as vLLM's server does).
        return self.tokenizer(text, add_special_tokens=request.prompt is not None)["input_ids"]

    def _too_long(self, size: str, max_tokens: int) -> str:
        return (
            f"{TOO_LONG}: the prompt is {size}, plus max_tokens {max_tokens}, and the model's "
            f"context is {self.context} tokens; {self.advice}"
        )
