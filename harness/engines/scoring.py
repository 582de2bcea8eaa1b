"""Prompt scoring: log p(continuation | context) per continuation token, from prompt log-probabilities.

One small function per engine; each engine's `score_prompts` calls its own. The whole text is tokenized as
one, and the continuation's tokens are those that start at or after its first character (as a server's echo
gives them); contexts that end alike (a blank line) give the same continuation tokens.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from harness.engines.base import UnsupportedParameter


@dataclass(frozen=True)
class ScoreRequest:
    context: str
    continuation: str


@dataclass
class Scored:
    logprobs: list[float]  # one per continuation token

    @property
    def tokens(self) -> int:
        return len(self.logprobs)

    @property
    def mean(self) -> float | None:
        return sum(self.logprobs) / len(self.logprobs) if self.logprobs else None


def token_ids(tokenizer: Any, request: ScoreRequest) -> tuple[list[int], int]:
    """The ids of context + continuation, tokenized together as a model reads the whole text, and the first
    continuation token: the first that starts at or after the continuation's first character. (Tokenized apart,
    a context ending in a blank line ends in a rare "\n\n" token that the model almost never saw followed by
    text, and the first continuation token's log-probability falls by ten nats.)"""
    text = request.context + request.continuation
    if not getattr(tokenizer, "is_fast", False):  # no offsets: tokenize apart and join
        context = tokenizer(request.context, add_special_tokens=True)["input_ids"]
        return list(context) + tokenizer(request.continuation, add_special_tokens=False)["input_ids"], len(context)
    encoded = tokenizer(text, add_special_tokens=True, return_offsets_mapping=True)
    ids, spans = list(encoded["input_ids"]), encoded["offset_mapping"]
    start = len(request.context)
    split = next((i for i, (a, b) in enumerate(spans) if a >= start and b > a), len(ids))
    return ids, split


def transformers_scores(
    model: Any, tokenizer: Any, torch: Any, requests: list[ScoreRequest], batch: int
) -> list[Scored]:
    """Forward passes of `batch` sequences, left-padded so every continuation ends the row: only the last
    logits (as many as the longest continuation) are computed, not a [batch, length, vocab] tensor."""
    encoded = [token_ids(tokenizer, r) for r in requests]
    order = sorted(range(len(encoded)), key=lambda i: len(encoded[i][0]))  # similar lengths pad little
    results: list[Scored | None] = [None] * len(encoded)
    device = next(model.parameters()).device
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    for start in range(0, len(order), batch):
        chunk = order[start : start + batch]
        longest = max(len(encoded[i][0]) for i in chunk)
        keep = max(len(encoded[i][0]) - encoded[i][1] for i in chunk) + 1
        ids = torch.full((len(chunk), longest), pad, dtype=torch.long)
        mask = torch.zeros((len(chunk), longest), dtype=torch.long)
        for row, i in enumerate(chunk):
            seq = encoded[i][0]
            ids[row, longest - len(seq) :] = torch.tensor(seq)
            mask[row, longest - len(seq) :] = 1
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        with torch.inference_mode():
            out = model(
                input_ids=ids.to(device),
                attention_mask=mask.to(device),
                position_ids=positions.to(device),
                logits_to_keep=keep,
            )
        logits = out.logits.float()  # [rows, keep, vocab]: the logits of the last `keep` positions
        for row, i in enumerate(chunk):
            seq, split = encoded[i]
            n = len(seq) - split
            if n == 0:
                results[i] = Scored([])
                continue
            # logits at position p predict token p + 1: the continuation's n tokens are predicted by the n
            # positions before the last one
            picked = logits[row, keep - 1 - n : keep - 1]
            targets = torch.tensor(seq[split:], device=picked.device)
            logp = torch.log_softmax(picked, dim=-1).gather(-1, targets[:, None])[:, 0]
            results[i] = Scored(logp.tolist())
    return [r if r is not None else Scored([]) for r in results]


def vllm_scores(llm: Any, requests: list[ScoreRequest]) -> list[Scored]:
    """vLLM's `prompt_logprobs`: one engine call over all prompts (its own batching), generating one token."""
    from vllm import SamplingParams as VLLMParams
    from vllm.inputs import TokensPrompt

    tokenizer = llm.get_tokenizer()
    encoded = [token_ids(tokenizer, r) for r in requests]
    params = VLLMParams(max_tokens=1, prompt_logprobs=0, temperature=0)
    outputs = llm.generate([TokensPrompt(prompt_token_ids=ids) for ids, _ in encoded], params, use_tqdm=False)
    scored = []
    for (ids, split), output in zip(encoded, outputs, strict=True):
        per_position = output.prompt_logprobs  # None for the first token, then {token_id: Logprob}
        scored.append(Scored([per_position[p][ids[p]].logprob for p in range(split, len(ids))]))
    return scored


async def openai_scores(client: Any, model: str, requests: list[ScoreRequest]) -> list[Scored]:
    """A completions endpoint that offers `echo` with `logprobs` (vLLM's, llama.cpp's): the prompt's own token
    log-probabilities; the continuation's tokens are those that start at or after the context's last character.
    `client` is an `AsyncOpenAI`; the requests go out together (its connection limit bounds them)."""
    import asyncio

    async def one(request: ScoreRequest) -> Scored:
        text = request.context + request.continuation
        reply = await client.completions.create(
            model=model, prompt=text, max_tokens=1, echo=True, logprobs=0, temperature=0
        )
        logprobs = reply.choices[0].logprobs
        if logprobs is None or not logprobs.token_logprobs:
            raise UnsupportedParameter(f"the server at {client.base_url} returns no prompt log-probabilities (echo)")
        prompt_tokens = reply.usage.prompt_tokens
        pairs = zip(logprobs.text_offset[:prompt_tokens], logprobs.token_logprobs[:prompt_tokens], strict=True)
        return Scored([lp for offset, lp in pairs if offset >= len(request.context) and lp is not None])

    return list(await asyncio.gather(*(one(r) for r in requests)))
