"""The settings every model-running command shares, declared once: model, engine and its sections, threads,
cache, Ray replicas, and sampling. Stage configs list the ones they take (harness/config/commands.py)."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar

from pydantic import Field, field_validator

from harness.config.base import ConfigError, Flag, StrictModel, parse_size
from harness.engines.base import SamplingParams

OPENAI = "Engine openai"
VLLM = "Engine vllm"
RAY = "Ray cluster"


class SamplingOverrides(StrictModel):
    """Sampling settings given by the user; anything left unset keeps the task's recipe default."""

    PANEL: ClassVar[str | None] = None  # listed with the command's own flags
    temperature: float | None = Field(None, description="Sampling temperature, 0 = greedy (default: the task's).")
    top_p: float | None = Field(None, description="Nucleus sampling mass.")
    top_k: int | None = Field(None, description="Keep only the K most likely tokens (0 = off).")
    min_p: float | None = Field(None, description="Minimum token probability relative to the top token.")
    repetition_penalty: float | None = Field(None, description="Penalty on tokens already in the text (1 = off).")
    max_tokens: int | None = Field(None, description="Token budget per completion (default: the task's).")
    n: int | None = Field(None, description="Samples per row (default: the task's).")
    stop: list[str] | None = Field(None, description="Stop string (repeatable); replaces the task's stops.")
    seed: int | None = Field(None, description="Random seed for sampling.")
    # None: the task decides (reasoning-token: yes, as its card generates with the model's own config).
    from_model: Annotated[bool | None, Flag("--sampling-from-model")] = Field(
        None,
        description="Take sampling from the model's generation_config.json (under these flags); default: the "
        "task's choice (reasoning-token: yes).",
    )

    def apply(self, defaults: SamplingParams) -> SamplingParams:
        given = {k: v for k, v in self.model_dump(exclude={"from_model"}).items() if v is not None}
        if "stop" in given:
            given["stop"] = tuple(given["stop"])
        try:
            return SamplingParams(**{**defaults.to_dict(), "stop": defaults.stop, **given})
        except ValueError as err:
            raise ConfigError(f"sampling: {err}") from err


class VLLMOptions(StrictModel):
    """Settings passed to `vllm.LLM`. Unset ones keep vLLM's defaults, or on CPU the harness's (docs/engines.md)."""

    PANEL: ClassVar[str] = VLLM
    dtype: str = Field("auto", description="vllm: weights' dtype (auto, bfloat16, float16, float32).")
    max_model_len: int | None = Field(
        None, ge=1, description="vllm: context length (prompt + completion) (CPU default 2048)."
    )
    kv_cache_memory_bytes: Annotated[int | None, Flag("--kv-cache-memory", type=str, metavar="SIZE")] = Field(
        None, ge=1, description="vllm: KV cache size, e.g. 256MiB or 4GiB (CPU default 256MiB)."
    )
    gpu_memory_utilization: float | None = Field(
        None, gt=0, le=1, description="vllm: share of GPU memory vLLM may take."
    )
    tensor_parallel_size: int = Field(1, ge=1, description="vllm: GPUs per model replica.")
    pipeline_parallel_size: int = Field(1, ge=1, description="vllm: pipeline stages (e.g. one per node with Ray).")
    data_parallel_size: int = Field(1, ge=1, description="vllm: replicas (offline vLLM: one process each).")
    distributed_executor_backend: str | None = Field(None, description="vllm: `ray` for a multi-node run, or `mp`.")
    quantization: str | None = Field(None, description="vllm: quantization method (awq, gptq, fp8, ...).")
    enforce_eager: bool | None = Field(None, description="vllm: no CUDA graphs (default: vLLM's choice).")
    engine_args: dict[str, Any] = Field(default_factory=dict, description="Any other vllm.LLM keyword, as is.")

    @field_validator("kv_cache_memory_bytes", mode="before")
    @classmethod
    def _size(cls, value: Any) -> Any:
        return None if value is None else parse_size(value)


class OpenAIOptions(StrictModel):
    """Settings of the `openai` engine. The key itself is never configured: only the variable holding it."""

    PANEL: ClassVar[str] = OPENAI
    base_url: str | None = Field(None, description="openai: the server's base URL, e.g. http://127.0.0.1:8000/v1.")
    api_key_env: str = Field("OPENAI_API_KEY", description="openai: the environment variable holding the API key.")
    concurrency: int = Field(
        16, ge=1, description="openai: requests in flight at once; use --batch-size of a few times this."
    )
    timeout: float = Field(120.0, gt=0, description="openai: seconds per attempt before it is retried.")
    max_retries: int = Field(6, ge=0, description="openai: retries of a failed request (429, 5xx, timeouts).")
    backoff_base: float = Field(0.5, gt=0, description="openai: seconds; retry k waits up to base x 2^(k-1), jittered.")
    backoff_cap: float = Field(30.0, gt=0, description="openai: the longest wait between retries, in seconds.")
    rpm: int | None = Field(None, ge=1, description="openai: at most this many requests per minute.")
    tpm: int | None = Field(
        None, ge=1, description="openai: at most this many tokens per minute (prompt estimate + max_tokens x n)."
    )


class RayOptions(StrictModel):
    """`--ray`: run the engine as data-parallel replicas on a Ray cluster (harness/scale/ray_replicas.py)."""

    PANEL: ClassVar[str] = RAY
    address: Annotated[str, Flag("--ray", metavar="[ADDRESS]")] = Field(
        "auto",
        description="Run engine replicas on a Ray cluster: `auto`, also `--ray` alone (RAY_ADDRESS, else the "
        "cluster `ray start` began here, else a local one), `local` (a new local cluster) or HOST:PORT.",
    )
    replicas: int | None = Field(
        None, ge=1, description="--ray: engine replicas (default: one per GPU, or one per --threads CPUs)."
    )
    gpus_per_replica: int | None = Field(
        None, ge=0, description="--ray: GPUs per replica; vllm splits the model over them (tensor parallel)."
    )


# The settings every model-running command shares, each declared once here and listed by the configs that
# take it (`model: ModelName = "default"`), so each config keeps its settings in the order its YAML reads.
ModelName = Annotated[str, Field(description="`default` (SmolLM2-135M-Instruct, bundled), a local folder or a hub id.")]
# A name, checked by the stage against the engine registry (its message lists the engines).
EngineName = Annotated[
    str, Field(description="Inference engine: transformers, vllm, or openai (any OpenAI-compatible server).")
]
ThreadCount = Annotated[
    int | None,
    Field(ge=1, description="CPU threads (default: OMP_NUM_THREADS, else the cores idle at start)."),
]
CacheSwitch = Annotated[bool, Field(description="Read and write the generation cache.")]
VLLMSection = Annotated[VLLMOptions, Field(default_factory=VLLMOptions, description="Used by --engine vllm.")]
OpenAISection = Annotated[OpenAIOptions, Field(default_factory=OpenAIOptions, description="Used by --engine openai.")]
RaySection = Annotated[RayOptions | None, Field(description="Set: engine replicas on a Ray cluster.")]
# Not in the `ray:` section: a flag of that section sets `--ray` (a run on Ray) by being given.
RayVerbose = Annotated[
    bool, Flag(panel=RAY), Field(description="--ray: show Ray's own warnings and log lines (hidden by default).")
]
# Training across processes: how a training runs, never what it trains (not in a model's identity).
TRAIN_SCALE = "Scale (GPUs, processes)"
PROCESSES_HELP = "Train in N processes (accelerate launch): DDP on N GPUs, or N CPU processes (gloo)."
ACCELERATE_HELP = "With --num-processes: an `accelerate config` file (FSDP, DeepSpeed ZeRO, multi-node)."
ProcessCount = Annotated[int | None, Flag(panel=TRAIN_SCALE), Field(ge=1, description=PROCESSES_HELP)]
AccelerateConfig = Annotated[str | None, Flag(panel=TRAIN_SCALE), Field(description=ACCELERATE_HELP)]


# What a run costs (harness/cost.py): prices and a budget, none of them part of an output's identity.
COST = "Cost"
PriceInput = Annotated[
    float | None,
    Flag(panel=COST),
    Field(ge=0, allow_inf_nan=False, description="USD per million prompt tokens (servers, APIs)."),
]
PriceOutput = Annotated[
    float | None,
    Flag(panel=COST),
    Field(ge=0, allow_inf_nan=False, description="USD per million completion tokens (servers, APIs)."),
]
CostPerHour = Annotated[
    float | None,
    Flag(panel=COST),
    Field(ge=0, allow_inf_nan=False, description="USD per engine-hour, model load included (local engines, GPUs)."),
]
MaxCost = Annotated[
    float | None,
    Flag(panel=COST, metavar="USD"),
    Field(
        gt=0,
        allow_inf_nan=False,
        description="Stop before the output's cost would pass USD (needs a price); rerun with a higher budget "
        "or none to go on.",
    ),
]


# The engines' own sections: a flat setting name (`base_url`) belongs to exactly one of them.
ENGINE_SECTIONS = {"vllm": VLLMOptions, "openai": OpenAIOptions}
