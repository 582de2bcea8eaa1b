"""Run configuration: pydantic models, loaded from a YAML file, then overridden by CLI flags.

The resolved config is saved beside every artifact (`DIR/.harness/config.yaml`) and in its provenance.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from harness.engines.base import SamplingParams


class ConfigError(ValueError):
    """The config file or flags are invalid; the message names the field."""


class SamplingOverrides(BaseModel):
    """Sampling settings given by the user; anything left unset keeps the task's recipe default."""

    model_config = ConfigDict(extra="forbid")
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    min_p: float | None = None
    repetition_penalty: float | None = None
    max_tokens: int | None = None
    n: int | None = None
    stop: list[str] | None = None
    seed: int | None = None
    # Lay the model's generation_config.json over the task's defaults (these flags still win); None: the
    # task decides (reasoning-token: yes, as its card generates with the model's own config).
    from_model: bool | None = None

    def apply(self, defaults: SamplingParams) -> SamplingParams:
        given = {k: v for k, v in self.model_dump(exclude={"from_model"}).items() if v is not None}
        if "stop" in given:
            given["stop"] = tuple(given["stop"])
        try:
            return SamplingParams(**{**defaults.to_dict(), "stop": defaults.stop, **given})
        except ValueError as err:
            raise ConfigError(f"sampling: {err}") from err


SIZE = re.compile(r"(?i)^\s*(\d+(?:\.\d+)?)\s*(b|kib|mib|gib|tib|kb|mb|gb|tb)?\s*$")
UNITS = {"b": 1, "kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40}
UNITS.update(kb=10**3, mb=10**6, gb=10**9, tb=10**12)


def parse_size(value: int | str) -> int:
    """Bytes from an int or a size such as `256MiB` or `1.5GB`."""
    if isinstance(value, int):
        return value
    match = SIZE.match(str(value))
    if not match:
        raise ValueError(f"expected a size such as 256MiB or 2GiB, got {value!r}")
    return int(float(match[1]) * UNITS[(match[2] or "b").lower()])


class VLLMOptions(BaseModel):
    """Settings passed to `vllm.LLM`. Unset ones keep vLLM's defaults, or on CPU the harness's (README)."""

    model_config = ConfigDict(extra="forbid")
    dtype: str = "auto"
    max_model_len: int | None = Field(default=None, ge=1)
    kv_cache_memory_bytes: int | None = Field(default=None, ge=1)  # YAML/flags also take 256MiB, 2GiB
    gpu_memory_utilization: float | None = Field(default=None, gt=0, le=1)
    tensor_parallel_size: int = Field(default=1, ge=1)
    pipeline_parallel_size: int = Field(default=1, ge=1)
    data_parallel_size: int = Field(default=1, ge=1)
    distributed_executor_backend: str | None = None  # "ray" for a multi-node run
    quantization: str | None = None
    enforce_eager: bool | None = None
    engine_args: dict[str, Any] = Field(default_factory=dict)  # any other vllm.LLM keyword, as is

    @field_validator("kv_cache_memory_bytes", mode="before")
    @classmethod
    def _size(cls, value: Any) -> Any:
        return None if value is None else parse_size(value)


class OpenAIOptions(BaseModel):
    """Settings of the `openai` engine. The key itself is never configured: only the variable holding it."""

    model_config = ConfigDict(extra="forbid")
    base_url: str | None = None
    api_key_env: str = "OPENAI_API_KEY"
    concurrency: int = Field(default=16, ge=1)
    timeout: float = Field(default=120.0, gt=0)  # seconds per attempt
    max_retries: int = Field(default=6, ge=0)
    backoff_base: float = Field(default=0.5, gt=0)  # seconds: retry k waits up to base * 2**(k-1), jittered
    backoff_cap: float = Field(default=30.0, gt=0)
    rpm: int | None = Field(default=None, ge=1)  # requests per minute
    tpm: int | None = Field(default=None, ge=1)  # tokens per minute (prompt estimate + max_tokens x n)
    price: dict[str, float] | None = None  # per million tokens, e.g. {input: 0.15, output: 0.6}

    @field_validator("price")
    @classmethod
    def _price_keys(cls, value: dict[str, float] | None) -> dict[str, float] | None:
        if value is not None and (unknown := set(value) - {"input", "output"}):
            raise ValueError(f"price takes input and output (per million tokens), not {sorted(unknown)}")
        return value


ENGINE_SECTIONS = {"vllm": VLLMOptions, "openai": OpenAIOptions}


class RayOptions(BaseModel):
    """`--ray`: run the engine as data-parallel replicas on a Ray cluster (harness/scale/ray_replicas.py)."""

    model_config = ConfigDict(extra="forbid")
    address: str = "auto"  # auto: RAY_ADDRESS or the cluster `ray start` began here, else a local one; local; HOST:PORT
    replicas: int | None = Field(default=None, ge=1)  # default: one per GPU, or one per --threads CPU slice
    gpus_per_replica: int | None = Field(default=None, ge=0)  # default: 1 on a cluster with GPUs, else 0


class SynthConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    task: str = "backfill"
    input: str = "sample"
    output: str = "runs/synth"
    model: str = "default"
    engine: str = "transformers"
    columns: dict[str, str] = Field(default_factory=dict)  # logical column -> input column
    sampling: SamplingOverrides = Field(default_factory=SamplingOverrides)
    limit: int | None = Field(default=None, ge=1)
    batch_size: int = Field(default=8, ge=1)  # the transformers engine's static batch (requests per generate)
    window: int | None = Field(default=None, ge=1)  # requests kept inside the engine; None: the engine's default
    shard_rows: int = Field(default=1024, ge=1)  # a shard is committed every shard_rows finished rows ...
    commit_seconds: float = Field(default=60.0, gt=0)  # ... or every commit_seconds, whichever comes first
    shard: str | None = None  # "I/N": this process handles the rows whose record_id hash is I mod N
    split: str = "train"
    threads: int | None = Field(default=None, ge=1)
    task_options: dict[str, Any] = Field(default_factory=dict)  # the task's own knobs, e.g. system_prompt
    cache: bool = True
    pairs_output: str | None = None  # tasks that write pairs (star): default <output>-pairs
    vllm: VLLMOptions = Field(default_factory=VLLMOptions)  # used by --engine vllm
    openai: OpenAIOptions = Field(default_factory=OpenAIOptions)  # used by --engine openai
    ray: RayOptions | None = None  # set: engine replicas on a Ray cluster

    @field_validator("shard")
    @classmethod
    def _shard_form(cls, value: str | None) -> str | None:
        if value is None:
            return value
        match = re.fullmatch(r"(\d+)/(\d+)", value)
        if not match or not 0 <= int(match[1]) < int(match[2]):
            raise ValueError(f"shard must look like I/N with 0 <= I < N, got {value!r}")
        return value

    def shard_parts(self) -> tuple[int, int] | None:
        if self.shard is None:
            return None
        index, total = self.shard.split("/")
        return int(index), int(total)


class EvalConfig(BaseModel):
    """`harness eval mmlu`: which questions, which model and engine, which prompt mode."""

    model_config = ConfigDict(extra="forbid")
    output: str = "runs/eval-mmlu"
    model: str = "default"
    engine: str = "transformers"
    dataset: str = "bundled"  # bundled MMLU, a local file/folder or a hub id in the cais/mmlu schema
    dataset_config: str | None = None  # hub config name (cais/mmlu: `all`)
    split: str = "test"
    subsets: list[str] = Field(default_factory=lambda: ["all"])  # subjects, groups, `all`
    limit: int | None = Field(default=None, ge=1)  # questions drawn per subject
    seed: int = 0  # the draw, and generation in generative mode
    mode: Literal["loglikelihood", "cloze", "generative"] = "loglikelihood"
    task: str | None = None  # generative mode: the prompt/parser family (structured)
    # `structured-card`: the structured card's MMLU table (its 12 subjects, 100 random questions each, generative,
    # its prompt and sampling; its table in the report). Settings given explicitly still win.
    preset: Literal["structured-card"] | None = None
    sampling: SamplingOverrides = Field(default_factory=SamplingOverrides)  # generative mode only
    system_prompt: str | None = None  # generative mode: replaces the task's system prompt (text, or @FILE)
    batch_size: int = Field(default=8, ge=1)
    device: str | None = None  # cpu, cuda, cuda:1 ... (default: cuda when available)
    threads: int | None = Field(default=None, ge=1)
    vllm: VLLMOptions = Field(default_factory=VLLMOptions)  # used by --engine vllm (lm-eval's vllm model)
    openai: OpenAIOptions = Field(default_factory=OpenAIOptions)  # used by --engine openai (lm-eval's local-*)

    @model_validator(mode="before")
    @classmethod
    def _preset(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("preset") == "structured-card":
            from reports.mmlu_card import LIMIT, SUBJECTS

            data = {"subsets": list(SUBJECTS), "limit": LIMIT, "mode": "generative", "task": "structured", **data}
        return data

    @field_validator("subsets", mode="before")
    @classmethod
    def _split_subsets(cls, value: Any) -> Any:
        return [part.strip() for part in value.split(",") if part.strip()] if isinstance(value, str) else value

    @model_validator(mode="after")
    def _generative_only(self) -> EvalConfig:
        if self.mode == "generative":
            self.task = self.task or "structured"
            return self
        if self.task is not None or self.system_prompt is not None:
            raise ValueError(f"--task and --system-prompt apply to --mode generative, not {self.mode}")
        if any(v is not None for v in self.sampling.model_dump().values()):
            raise ValueError(f"sampling settings apply to --mode generative, not {self.mode}")
        return self


class JudgeConfig(BaseModel):
    """`harness judge`: which judges, on which columns, with which judge model."""

    model_config = ConfigDict(extra="forbid")
    input: str  # a harness artifact folder (synth, or an earlier judge run)
    output: str
    judges: list[str]
    columns: dict[str, str] = Field(default_factory=dict)  # logical column -> artifact column (or source:NAME)
    source: str | None = None  # where columns missing from the artifact are read (default: the synth input)
    regex: str | None = None  # the `regex` judge's pattern (its first group is the answer)
    model: str = "default"  # the LLM judges' model
    engine: str = "transformers"
    max_tokens: int = Field(default=64, ge=1)  # per judge reply
    score_low: int = 1
    score_high: int = 10
    rank_chunk: int = Field(default=8, ge=2)  # answers per ranking request
    batch_size: int | None = Field(default=None, ge=1)  # questions per shard: 256 (LLM judges: also every minute)
    window: int | None = Field(default=None, ge=1)  # LLM judges: requests kept inside the engine
    commit_seconds: float = Field(default=60.0, gt=0)  # LLM judges: a shard at least this often
    limit: int | None = Field(default=None, ge=1)  # only the first N questions
    threads: int | None = Field(default=None, ge=1)
    cache: bool = True
    vllm: VLLMOptions = Field(default_factory=VLLMOptions)  # used by --engine vllm
    openai: OpenAIOptions = Field(default_factory=OpenAIOptions)  # used by --engine openai (an external judge)
    ray: RayOptions | None = None  # set: LLM judge replicas on a Ray cluster

    @field_validator("judges", mode="before")
    @classmethod
    def _split_judges(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [value]
        return [part.strip() for item in value for part in str(item).split(",") if part.strip()]


class SelectConfig(BaseModel):
    """`harness select best-of-n|pairs`: training rows from a judged artifact."""

    model_config = ConfigDict(extra="forbid")
    mode: Literal["best-of-n", "pairs"]
    input: str
    output: str
    judge: str | None = None  # whose score decides; default: the artifact's only judge
    threshold: float = Field(default=1.0, allow_inf_nan=False)  # pairs: a score >= threshold is correct
    min_score: float | None = Field(default=None, allow_inf_nan=False)  # best-of-n: lower best score: no row
    include_invalid: bool = False  # also select rows that failed the synth task's own verdicts
    batch_size: int = Field(default=64, ge=1)  # questions per committed shard
    conversational: bool = False  # pairs: prompt as chat messages, chosen/rejected as assistant messages


class DecontamConfig(BaseModel):
    """`harness decontam`: mark (or drop) rows sharing a word n-gram with an eval set."""

    model_config = ConfigDict(extra="forbid")
    input: str  # a harness artifact folder
    output: str
    against: list[str] = Field(default_factory=lambda: ["mmlu"])  # mmlu, FILE[:COLUMN], lm-eval:TASK
    subsets: str = "all"  # mmlu's subjects or groups, as `harness eval mmlu --subsets`
    columns: list[str] = Field(default_factory=list)  # the texts checked; default: every text column
    ngram: int = Field(default=13, ge=1)
    drop: bool = False  # leave contaminated rows out instead of marking them
    batch_size: int = Field(default=65536, ge=1)  # rows per committed shard

    @field_validator("against", "columns", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [value]
        return [part.strip() for item in value for part in str(item).split(",") if part.strip()]

    @field_validator("subsets", mode="before")
    @classmethod
    def _join_subsets(cls, value: Any) -> Any:
        """A YAML list of subjects, as `eval mmlu` takes them, is the comma-separated flag's value."""
        return ",".join(str(item).strip() for item in value) if isinstance(value, list) else value


TRAIN_METHODS = ("sft", "grpo", "rank", "dpo")


class PeftSettings(BaseModel):
    """LoRA adapters (PEFT) trained instead of the whole model; PEFT's names. A recipe's `peft:` section."""

    model_config = ConfigDict(extra="forbid")
    r: int = Field(default=16, ge=1)
    lora_alpha: float | None = Field(default=None, gt=0)  # None: 2 x r
    lora_dropout: float = Field(default=0.0, ge=0, lt=1)
    target_modules: list[str] | str = "all-linear"  # every linear layer but the LM head, or module names
    merge: bool = False  # the output folder holds the merged model (the adapter beside it, in adapter/)

    @field_validator("target_modules", mode="before")
    @classmethod
    def _split_targets(cls, value: Any) -> Any:
        if isinstance(value, str) and value != "all-linear":
            return [part.strip() for part in value.split(",") if part.strip()]
        return value


class TrainConfig(BaseModel):
    """`harness train METHOD`: a recipe (YAML) with flags on top. TRL's own names where TRL has the setting."""

    model_config = ConfigDict(extra="forbid")
    method: Literal["sft", "grpo", "rank", "dpo"]
    input: str
    output: str
    model: str = "default"
    limit: int | None = Field(default=None, ge=1)  # only the first N usable rows
    # -- optimisation (TrainingArguments)
    learning_rate: float = Field(default=2e-5, gt=0)
    lr_scheduler_type: str = "linear"
    warmup_steps: int = Field(default=0, ge=0)
    warmup_ratio: float | None = Field(default=None, ge=0, lt=1)  # a fraction of all steps (Memphis: 0.2, 0.1)
    num_train_epochs: float = Field(default=1.0, gt=0)
    max_steps: int = Field(default=-1, ge=-1)  # > 0 overrides the epochs; -1: the epochs decide
    batch_size: int = Field(default=4, ge=1)  # per device
    gradient_accumulation_steps: int = Field(default=1, ge=1)
    weight_decay: float = Field(default=0.0, ge=0)
    max_grad_norm: float = Field(default=1.0, gt=0)
    # TrainingArguments' optimizer name (None: its own default, fused AdamW on torch >= 2.8); an 8-bit
    # bitsandbytes one falls back to adamw_torch without a GPU or bitsandbytes (trainers.common.resolve_optim;
    # the provenance says which ran and why)
    optim: str | None = None
    max_length: int = Field(default=1024, ge=8)  # tokens per sequence (prompt + response), capped by the model
    seed: int = 0
    logging_steps: int = Field(default=1, ge=1)
    save_steps: int = Field(default=0, ge=0)  # checkpoint every N steps (a killed run resumes from the last); 0: none
    device: str | None = None  # cpu, cuda (default: cuda when available)
    threads: int | None = Field(default=None, ge=1)
    # -- model and tokenizer
    special_tokens: list[str] = Field(default_factory=list)  # added with resized embeddings, e.g. <|reasoning|>
    chat_template: str | None = None  # chatml, reasoning, or a .jinja file; None keeps the model's
    freeze_embeddings: bool = False  # input embeddings (and a tied LM head) keep their weights
    peft: PeftSettings | None = None  # LoRA adapters instead of full fine-tuning
    # -- GPU settings (none costs anything on a CPU)
    bf16: bool | None = None  # None: bf16 where the GPU supports it, float32 on CPU
    gradient_checkpointing: bool = False  # less activation memory for about a third more compute
    use_liger_kernel: bool = False  # Liger's fused Triton kernels (GPU, `pip install liger-kernel`)
    report_to: list[str] = Field(default_factory=lambda: ["none"])  # wandb, tensorboard, trackio, ...
    # -- sft
    packing: bool = False
    assistant_only_loss: bool = False  # conversational rows: loss on {% generation %} spans only
    completion_only_loss: bool | None = None  # prompt/completion rows: None = TRL's default (True)
    neftune_noise_alpha: float | None = Field(default=None, gt=0)
    mixce_ratio: float | None = Field(default=None, ge=0, le=1)  # MixCE: weight of forward cross-entropy
    # -- rank
    rank_weight: float = Field(default=5.0, ge=0)  # loss = rank_weight * ranking + cross-entropy on the chosen
    # -- dpo
    beta: float = Field(default=0.1, gt=0)
    # -- grpo
    task: str | None = None  # render prompts from the task's columns (inputs without a `prompt` column)
    task_options: dict[str, Any] = Field(default_factory=dict)
    columns: dict[str, str] = Field(default_factory=dict)  # logical column -> input column, as synth's --col
    rewards: dict[str, float] = Field(default_factory=dict)  # reward name -> weight
    num_generations: int = Field(default=4, ge=2)
    max_completion_length: int = Field(default=64, ge=1)
    temperature: float = Field(default=1.0, gt=0)
    top_p: float = Field(default=1.0, gt=0, le=1)
    generation_engine: Literal["auto", "transformers", "vllm"] = "auto"  # auto: vLLM on a GPU when installed
    # -- anything else TRL's config for the method takes, by TRL's name (adapt here when TRL renames)
    trl_args: dict[str, Any] = Field(default_factory=dict)

    @field_validator("report_to", mode="before")
    @classmethod
    def _split_report_to(cls, value: Any) -> Any:
        return [part.strip() for part in value.split(",") if part.strip()] if isinstance(value, str) else value

    @model_validator(mode="after")
    def _method_settings(self) -> TrainConfig:
        if self.max_steps == 0:
            raise ValueError("max_steps must be >= 1 (or -1: train for num_train_epochs), got 0")
        if self.method == "grpo" and not self.rewards:
            raise ValueError(
                "grpo needs rewards to learn from: use the bundled recipe (`--recipe structured-grpo`, the "
                "structured card's format and correctness rewards) or a recipe of your own with "
                "`rewards: {name: weight}`, e.g. structured_structure: 1.0"
            )
        if self.method != "grpo" and self.rewards:
            raise ValueError(f"`rewards` apply to grpo, not {self.method}")
        if self.warmup_ratio is not None and self.warmup_steps:
            raise ValueError("give warmup_steps or warmup_ratio, not both")
        if self.mixce_ratio is not None and self.method != "sft":
            raise ValueError(f"`mixce_ratio` applies to sft, not {self.method}")
        if self.method == "grpo" and self.batch_size % self.num_generations:
            raise ValueError(
                f"grpo: batch_size ({self.batch_size}) must be a multiple of num_generations ({self.num_generations})"
            )
        return self


class _LoopSettings(BaseModel):
    """What every `harness loop` shares: the questions, the rounds, the starting model, the training on top."""

    model_config = ConfigDict(extra="forbid")
    input: str  # the questions (synth's input)
    output: str  # DIR/round-K/{...artifacts, model} and DIR/loop.json
    rounds: int = Field(default=4, ge=1)
    model: str = "default"
    recipe: str | None = None  # the training recipe (file or bundled name); each loop has its default
    columns: dict[str, str] = Field(default_factory=dict)  # synth's --col mapping
    limit: int | None = Field(default=None, ge=1)  # questions per round
    synth_batch_size: int | None = Field(default=None, ge=1)
    train: dict[str, Any] = Field(default_factory=dict)  # TrainConfig settings over the recipe (max_steps, ...)
    threads: int | None = Field(default=None, ge=1)
    # -- measuring each round: the starting model and every round's model on the same drawn questions
    eval: Literal["mmlu"] | None = None
    eval_subsets: list[str] = Field(default_factory=lambda: ["all"])  # as `harness eval mmlu --subsets`
    eval_limit: int | None = Field(default=None, ge=1)  # questions drawn per subject
    eval_seed: int = 0  # the draw: the same questions for every model
    keep: Literal["last", "best"] = "last"  # the loop's result: the last round's model, or the most accurate one
    stop_when_worse: bool = False  # end the loop when a round's model scores below the model it started from

    @field_validator("eval_subsets", mode="before")
    @classmethod
    def _split_eval_subsets(cls, value: Any) -> Any:
        return [part.strip() for part in value.split(",") if part.strip()] if isinstance(value, str) else value

    @model_validator(mode="after")
    def _measured(self) -> _LoopSettings:
        if self.eval is None and (self.keep == "best" or self.stop_when_worse):
            raise ValueError("--keep best and --stop-when-worse need each round measured: add --eval mmlu")
        return self


class LoopConfig(_LoopSettings):
    """`harness loop star`: rounds of synth (star) -> verify -> pairs -> train (rank or dpo), each on the last model."""

    method: Literal["rank", "dpo"] = "rank"
    sampling: SamplingOverrides = Field(default_factory=SamplingOverrides)  # the star recipe's unless given
    task_options: dict[str, Any] = Field(default_factory=dict)  # star: gold_rationale (input has `rationale`)
    # The card's initial SFT phase before round 1: instruction data in its `### User:`/`### Assistant:` or TinyCoT
    # format (a `text` column), or TinyCoT's question/rationale/answer columns; trained with `sft_recipe`.
    sft_input: str | None = None
    sft_recipe: str | None = None  # default memphis-sft


class LoopJudgeSettings(BaseModel):
    """The rank judge of `harness loop thought-ranking`: its own model and engine (the card's is external)."""

    model_config = ConfigDict(extra="forbid")
    model: str = "default"
    engine: str = "transformers"
    max_tokens: int = Field(default=64, ge=1)  # per judge reply
    rank_chunk: int = Field(default=8, ge=2)  # answers per ranking request
    batch_size: int | None = Field(default=None, ge=1)  # questions per judged shard
    vllm: VLLMOptions = Field(default_factory=VLLMOptions)
    openai: OpenAIOptions = Field(default_factory=OpenAIOptions)


class ThoughtRankingConfig(_LoopSettings):
    """`harness loop thought-ranking`: rounds of synth (thought-variants) -> rank judge -> best-of-n -> SFT."""

    engine: Literal["transformers", "vllm"] = "transformers"  # the policy's; it is a local model after round 1
    vllm: VLLMOptions = Field(default_factory=VLLMOptions)  # the policy's, with --engine vllm
    task_options: dict[str, Any] = Field(default_factory=dict)  # thought-variants: variants, max_*_tokens
    judge: LoopJudgeSettings = Field(default_factory=LoopJudgeSettings)


Config = TypeVar(
    "Config", SynthConfig, EvalConfig, JudgeConfig, SelectConfig, TrainConfig, LoopConfig, ThoughtRankingConfig
)


def parse_column_flags(flags: list[str]) -> dict[str, str]:
    """`--col LOGICAL=COLUMN` flags as a mapping; a malformed or repeated one is a ConfigError."""
    columns: dict[str, str] = {}
    for flag in flags:
        logical, sep, column = (part.strip() for part in flag.partition("="))
        if not sep or not logical or not column:
            raise ConfigError(f"--col {flag!r}: expected LOGICAL=COLUMN, e.g. --col question=prompt")
        if logical in columns and columns[logical] != column:
            raise ConfigError(f"--col: {logical!r} is mapped twice ({columns[logical]!r} and {column!r})")
        columns[logical] = column
    return columns


# Flags that add to the file's mapping of that name rather than replace it (the loop's `judge`, nested).
MERGED_SECTIONS = ("columns", "task_options", "train", "judge", "ray", "peft")


def _merge_given(base: dict[str, Any], given: dict[str, Any]) -> dict[str, Any]:
    """`given` over `base`, key by key and into nested mappings; None means not given, as for flags."""
    merged = dict(base)
    for key, value in given.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict | None):
            merged[key] = _merge_given(merged.get(key) or {}, value)
        elif value is not None:
            merged[key] = value
    return merged


def yaml_problem(err: yaml.YAMLError) -> str:
    """PyYAML's error in one line: where (line, column) and what; its own text spans several lines."""
    mark = getattr(err, "problem_mark", None)
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
    return where + " ".join(str(getattr(err, "problem", None) or err).split())


def load_config(path: Path | None, overrides: dict[str, Any], kind: type[Config] = SynthConfig) -> Config:
    """YAML file (optional) first, then every flag the user actually gave (None means not given)."""
    data: dict[str, Any] = {}
    if path is not None:
        try:
            data = yaml.safe_load(Path(path).read_text()) or {}
        except OSError as err:
            raise ConfigError(f"{path}: cannot read config ({err.strerror})") from err
        except UnicodeDecodeError as err:
            raise ConfigError(f"{path}: not UTF-8 text (byte offset {err.start})") from err
        except yaml.YAMLError as err:
            raise ConfigError(f"{path}: not valid YAML ({yaml_problem(err)})") from err
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: expected a mapping of settings at the top level")
    for key, value in overrides.items():
        if value is None:
            continue
        section = next((name for name, model in ENGINE_SECTIONS.items() if key in model.model_fields), None)
        merged = key in MERGED_SECTIONS and isinstance(value, dict)  # select's `judge` is a name, not a section
        if key in kind.model_fields and not merged:  # eval's seed is its own
            data[key] = value
        elif key in SamplingOverrides.model_fields:
            data["sampling"] = {**(data.get("sampling") or {}), key: value}  # an empty section loads as None
        elif section is not None:
            data[section] = {**(data.get(section) or {}), key: value}
        elif merged:
            data[key] = _merge_given(data.get(key) or {}, value)
        else:
            data[key] = value
    try:
        return kind(**data)
    except ValidationError as err:
        raise ConfigError(f"{path or 'flags'}: {'; '.join(map(_describe_problem, err.errors()))}") from err


def _describe_problem(error: Any) -> str:
    """One pydantic error as `setting: what is wrong`; a missing setting says where it can be given."""
    where = ".".join(map(str, error["loc"]))
    if not where:  # a rule between settings (a model validator): its own sentence says it all
        return str(error["ctx"]["error"]) if "error" in error.get("ctx", {}) else error["msg"]
    if error["type"] == "missing" and len(error["loc"]) == 1:
        flag = {"judges": "judge"}.get(where, where).replace("_", "-")
        return f"{where}: missing; give --{flag} or set `{where}:` in the config file"
    return f"{where}: {error['msg']}"
