"""What the `openai` engine sends to and reads from an OpenAI-compatible server, as pure functions: the sampling
settings the API has no field for (`server_sampling`), a reply choice's text and logprobs in the engine
contract's shape, each sample's completion tokens, and the base URL as it may be shown (no credentials).

Separate from harness/engines/openai_engine.py, which owns the client, its event loop, pacing and retries:
these functions hold no state and need no server, so they are read and tested apart from the engine.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

from harness.engines.base import SamplingParams


def choice_text(choice) -> str:
    """A reply choice's text: a chat message's content, or a completion's text (None read as "")."""
    message = getattr(choice, "message", None)
    return (message.content or "") if message is not None else (choice.text or "")


def choice_logprobs(choice) -> list[dict[str, Any]] | None:
    """The server's logprobs in our shape: {token, logprob, top?}. Tokens are as the server spells them."""
    lp = choice.logprobs
    if lp is None:
        return None
    if getattr(lp, "content", None) is not None:  # chat completions
        return [
            {
                "token": t.token,
                "logprob": t.logprob,
                **({"top": {a.token: a.logprob for a in t.top_logprobs}} if t.top_logprobs else {}),
            }
            for t in lp.content
        ]
    entries = []  # completions: parallel lists
    for i, token in enumerate(lp.tokens or []):
        entry: dict[str, Any] = {"token": token, "logprob": lp.token_logprobs[i]}
        if lp.top_logprobs and lp.top_logprobs[i]:
            entry["top"] = dict(lp.top_logprobs[i])
        entries.append(entry)
    return entries


def split_tokens(total: int, choices, texts: list[str], logprobs: list, max_tokens: int) -> list[int]:
    """Completion tokens per sample: exact from logprobs, or when the request had one sample.

    With n>1 and no logprobs the API reports only the request's total. A sample cut by the budget used exactly
    `max_tokens`; the rest is split over the other samples by text length (largest remainder), so the rows
    still add up to what the server counted. README: "Token counts".
    """
    if all(lp is not None for lp in logprobs):
        return [len(lp) for lp in logprobs]
    if len(texts) == 1:
        return [total]
    counts = [max_tokens if c.finish_reason == "length" else 0 for c in choices]
    rest = [i for i, c in enumerate(choices) if c.finish_reason != "length"]
    left = max(total - sum(counts), 0)
    if not rest:
        return counts
    weights = {i: len(texts[i]) + 1 for i in rest}
    shares = {i: left * w / sum(weights.values()) for i, w in weights.items()}
    for i in rest:
        counts[i] = int(shares[i])
    for i in sorted(rest, key=lambda i: shares[i] - counts[i], reverse=True)[: left - sum(counts[i] for i in rest)]:
        counts[i] += 1
    return counts


def public_url(url: str) -> str:
    """The base URL without user info, query or fragment, which may carry credentials."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))


def server_sampling(params: SamplingParams) -> dict[str, Any]:
    """The sampling settings the OpenAI API has no field for, sent in the request body only when set: vLLM's and
    SGLang's servers honour min_p, top_k and repetition_penalty; a server that does not know them rejects the
    request (a failed row naming the server's reason) or, at its discretion, ignores them (README, "Sampling")."""
    extra: dict[str, Any] = {}
    if params.min_p:
        extra["min_p"] = params.min_p
    if params.top_k:
        extra["top_k"] = params.top_k
    if params.repetition_penalty != 1:
        extra["repetition_penalty"] = params.repetition_penalty
    return extra
