"""The `transformers` engine: batched `model.generate` with left padding, on CPU or one GPU.

Static batches are all `generate` can do; the engine still serves the streaming contract (`BatchingStream`):
of the requests in the caller's window it runs `batch_size` at a time, the oldest with those closest to it in
prompt length, which cuts padding.

A seeded request (`params.seed`) is generated alone, its n samples together, with the seed set just before
it: in a batch, left padding and the batch's shape change the numbers each row is computed with, and one
random stream is shared by the batch, so a row's tokens would depend on its batch-mates (`--batch-size`, the
rows beside it, a resume, a Ray replica). Alone, they depend on the request and the seed only, as vLLM's
per-request seeds do. Unseeded requests are random anyway, and keep the faster batches.

A request whose prompt plus `max_tokens` does not fit the model's context (its position embeddings) fails
alone, as an error row, before it is tokenized whole (`harness/engines/context.py`).
"""

from __future__ import annotations

import bisect
from typing import Any

from harness.engines.base import (
    BatchingStream,
    Completion,
    Engine,
    EngineStream,
    Request,
    SamplingParams,
    render_with_template,
)
from harness.engines.context import ContextCheck, content_chars, model_context
from harness.scale.cpu_threads import default_threads


class TransformersEngine(Engine):
    name = "transformers"

    def __init__(
        self,
        model_path: str,
        *,
        device: str | None = None,
        dtype: str = "auto",
        threads: int | None = None,
        batch_size: int = 8,
    ):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # our own progress bar is the one that matters
        self._torch = torch
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        if self.device == "cpu":
            torch.set_num_threads(threads or default_threads())
        torch_dtype = _pick_dtype(torch, dtype, self.device)
        self.tokenizer = AutoTokenizer.from_pretrained(model_path)
        self.tokenizer.padding_side = "left"  # decoder-only batching: prompts end where generation starts
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.model = AutoModelForCausalLM.from_pretrained(model_path, dtype=torch_dtype).to(self.device).eval()
        self.model_path = model_path
        self.batch_size = batch_size
        self._eos_ids = _as_list(self.model.generation_config.eos_token_id) or _as_list(self.tokenizer.eos_token_id)
        self.context = ContextCheck(self.tokenizer, model_context(self.model.config, self.tokenizer), self.render)

    def describe(self) -> dict[str, Any]:
        import transformers

        return {
            "engine": self.name,
            "transformers": transformers.__version__,
            "torch": self._torch.__version__,
            "device": self.device,
            "dtype": str(self.model.dtype).removeprefix("torch."),
            "threads": self._torch.get_num_threads(),
        }

    def render(self, request: Request) -> str:
        """The exact text the model sees."""
        return render_with_template(self.tokenizer, request, self.model_path)

    def open_stream(self) -> EngineStream:
        # Sorted by the characters requests bring, not by rendering each one again at every batch.
        return BatchingStream(self.generate, self.batch_size, length=content_chars)

    def generate(self, requests: list[Request], params: SamplingParams) -> list[list[Completion]]:
        if not requests:
            return []
        results: list[list[Completion] | None] = [None] * len(requests)
        fitting: list[tuple[int, list[int]]] = []
        for i, request in enumerate(requests):
            ids, reason = self.context.fit(request, params.max_tokens)
            if reason is not None:
                results[i] = Completion.failed(reason, params.n)
            else:
                fitting.append((i, ids))
        # Seeded: one request at a time, so its tokens do not depend on what else is in the batch.
        groups = [[one] for one in fitting] if params.seed is not None else [fitting]
        for group in filter(None, groups):
            for (i, _), samples in zip(group, self._generate_ids([ids for _, ids in group], params), strict=True):
                results[i] = samples
        return results  # type: ignore[return-value]  # every request is answered above

    def _generate_ids(self, encoded: list[list[int]], params: SamplingParams) -> list[list[Completion]]:
        """One `model.generate` over these prompts (token ids), left-padded into one batch."""
        torch = self._torch
        batch = self.tokenizer.pad({"input_ids": encoded}, padding=True, return_tensors="pt").to(self.device)
        width = batch["input_ids"].shape[1]

        stop_ids, stop_strings = self._split_stops(params.stop)
        kwargs: dict[str, Any] = {
            "max_new_tokens": params.max_tokens,
            "num_return_sequences": params.n,
            "eos_token_id": self._eos_ids + stop_ids,
            "pad_token_id": self.tokenizer.pad_token_id,
            "return_dict_in_generate": True,
            "output_logits": params.logprobs is not None,
        }
        if params.temperature == 0:
            kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None, min_p=None)
        else:
            kwargs.update(
                do_sample=True,
                temperature=params.temperature,
                top_p=params.top_p,
                min_p=params.min_p or None,
                top_k=params.top_k or None,  # None, not the generation_config's 50: 0 means off in our contract
            )
        # Applies to greedy decoding too; None (not the generation_config's value) when off.
        kwargs["repetition_penalty"] = params.repetition_penalty if params.repetition_penalty != 1 else None
        if stop_strings:
            kwargs.update(stop_strings=stop_strings, tokenizer=self.tokenizer)
        if params.seed is not None:
            torch.manual_seed(params.seed)  # `generate` runs a seeded request alone: the seed is its own
        with torch.inference_mode():
            out = self.model.generate(**batch, **kwargs)

        sequences = out.sequences[:, width:].tolist()
        logits = torch.stack(out.logits, dim=1) if params.logprobs is not None else None
        # Rows that stopped early are padded; the pad id may be a token of its own.
        end_ids = set(self._eos_ids + stop_ids + [self.tokenizer.pad_token_id])
        results: list[list[Completion]] = []
        for i, ids in enumerate(encoded):
            samples = []
            for j in range(params.n):
                row = i * params.n + j
                samples.append(
                    self._completion(
                        sequences[row],
                        len(ids),
                        j,
                        end_ids,
                        params,
                        logits[row] if logits is not None else None,
                    )
                )
            results.append(samples)
        return results

    def _completion(self, generated, prompt_tokens, sample_idx, end_ids, params, logits) -> Completion:
        cut = next((k for k, t in enumerate(generated) if t in end_ids), None)
        kept = generated if cut is None else generated[:cut]
        text = self.tokenizer.decode(kept, skip_special_tokens=False)
        finish = "stop" if cut is not None else "length"
        used = len(kept) + (1 if cut is not None else 0)  # the end-of-turn token counts, as in vLLM
        if (hit := _first_stop(text, params.stop)) is not None:
            # A stop string may end mid-token; the text ends before it and the tokens up to it count.
            text = text[:hit]
            finish = "stop"
            used = min(used, _tokens_covering(self.tokenizer, kept, hit))
        logprobs = (
            _logprobs(self._torch, self.tokenizer, logits[:used], generated[:used], params.logprobs)
            if logits is not None
            else None
        )
        return Completion(text, finish, prompt_tokens, used, sample_idx, logprobs)

    def _split_stops(self, stops: tuple[str, ...]) -> tuple[list[int], list[str]]:
        """Stops that are single special tokens become end ids (cheap); the rest go to string matching."""
        ids, strings = [], []
        for stop in stops:
            token_id = self.tokenizer.convert_tokens_to_ids(stop)
            if (
                isinstance(token_id, int)
                and token_id != self.tokenizer.unk_token_id
                and stop in self.tokenizer.all_special_tokens
            ):
                ids.append(token_id)
            else:
                strings.append(stop)
        return ids, strings

    def score_prompts(self, requests, batch: int = 8):
        from harness.engines.scoring import transformers_scores

        return transformers_scores(self.model, self.tokenizer, self._torch, requests, batch)

    def close(self) -> None:
        del self.model


def _pick_dtype(torch, dtype: str, device: str):
    if dtype != "auto":
        return getattr(torch, dtype)
    # bf16 on CPUs without native support falls back to slow kernels; float32 is the safe CPU choice.
    return torch.bfloat16 if device.startswith("cuda") and torch.cuda.is_bf16_supported() else torch.float32


def _as_list(value) -> list[int]:
    if value is None:
        return []
    return [value] if isinstance(value, int) else list(value)


def _first_stop(text: str, stops: tuple[str, ...]) -> int | None:
    hits = [i for s in stops if (i := text.find(s)) >= 0]
    return min(hits) if hits else None


def _tokens_covering(tokenizer, ids: list[int], chars: int) -> int:
    """The number of leading tokens needed to produce the first `chars` characters, plus the stop's token."""
    k = bisect.bisect_left(
        range(len(ids) + 1), chars, key=lambda n: len(tokenizer.decode(ids[:n], skip_special_tokens=False))
    )
    return min(k + 1, len(ids))


def _logprobs(torch, tokenizer, logits, chosen: list[int], top: int) -> list[dict[str, Any]]:
    """Per generated token: its log-probability under the model and the `top` most likely alternatives."""
    logp = torch.log_softmax(logits.float(), dim=-1)
    entries = []
    for pos, token_id in enumerate(chosen):
        entry: dict[str, Any] = {
            "token": tokenizer.convert_ids_to_tokens(token_id),
            "logprob": float(logp[pos, token_id]),
        }
        if top:
            values, indices = torch.topk(logp[pos], top)
            entry["top"] = {
                tokenizer.convert_ids_to_tokens(int(t)): float(v) for v, t in zip(values, indices, strict=True)
            }
        entries.append(entry)
    return entries
