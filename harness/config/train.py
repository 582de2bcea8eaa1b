"""The configs of training and of the loops that train each round: `harness train METHOD`, `harness loop`.

TrainConfig's fields are TRL's names where TRL has the setting. Its dump is part of a trained model's identity
(a rerun with the same settings is a no-op), so a field added here changes nothing only with its default.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from harness.config.base import Flag, StrictModel, split_commas
from harness.config.commands import THOUGHT_PREFIX_HELP, ColumnMap, InputPath, OutputPath
from harness.config.engine import (
    AccelerateConfig,
    CostPerHour,
    EngineName,
    ModelName,
    OpenAISection,
    PriceInput,
    PriceOutput,
    ProcessCount,
    RaySection,
    SamplingOverrides,
    ThreadCount,
    VLLMSection,
)

TRAIN_METHODS = ("sft", "grpo", "rank", "dpo")
LORA = "LoRA (PEFT)"
MEASURE = "Measuring each round"


class PeftSettings(StrictModel):
    """LoRA adapters (PEFT) trained instead of the whole model; PEFT's names. A recipe's `peft:` section."""

    PANEL: ClassVar[str] = LORA
    r: Annotated[int, Flag("--lora-r")] = Field(
        16, ge=1, description="Train LoRA adapters of this rank instead of the whole model."
    )
    lora_alpha: float | None = Field(None, gt=0, description="LoRA alpha (default 2 x rank).")
    lora_dropout: float = Field(0.0, ge=0, lt=1, description="Dropout on the adapters' input.")
    target_modules: Annotated[list[str] | str, Flag("--lora-targets", type=str)] = Field(
        "all-linear",
        description="Modules that get adapters, comma-separated (default all-linear: every linear layer but the "
        "LM head).",
    )
    merge: Annotated[
        bool, Flag("--merge", needs="--merge applies to LoRA training: add --lora-r R, or a `peft:` recipe section")
    ] = Field(
        False, description="Write the merged model (loads like any model folder); the adapter goes in OUTPUT/adapter/."
    )

    @field_validator("target_modules", mode="before")
    @classmethod
    def _split_targets(cls, value: Any) -> Any:
        return split_commas(value) if isinstance(value, str) and value != "all-linear" else value


class TrainConfig(StrictModel):
    """`harness train METHOD`: a recipe (YAML) with flags on top. TRL's own names where TRL has the setting."""

    method: Annotated[Literal["sft", "grpo", "rank", "dpo"], Flag(hidden=True)]  # the command's name
    input: InputPath = Field(description="Artifact folder or Parquet/JSONL file.")
    output: OutputPath = Field(description="Model folder to write (atomic; a rerun is a no-op).")
    model: ModelName = "default"
    limit: int | None = Field(None, ge=1, description="Only the first N usable rows.")
    # -- optimisation (TrainingArguments)
    learning_rate: float = Field(2e-5, gt=0, description="Peak learning rate.")
    lr_scheduler_type: str = Field("linear", description="Learning-rate schedule (TrainingArguments' names).")
    warmup_steps: int = Field(0, ge=0, description="Warmup steps.")
    warmup_ratio: float | None = Field(None, ge=0, lt=1, description="Warmup as a fraction of all steps.")
    num_train_epochs: float = Field(1.0, gt=0, description="Epochs over the rows.")
    max_steps: int = Field(-1, ge=-1, description="Optimizer steps (overrides the epochs; -1: the epochs decide).")
    batch_size: int = Field(4, ge=1, description="Rows per device per step.")
    gradient_accumulation_steps: int = Field(1, ge=1, description="Steps whose gradients add up to one update.")
    weight_decay: float = Field(0.0, ge=0, description="AdamW weight decay.")
    max_grad_norm: float = Field(1.0, gt=0, description="Gradient clipping norm.")
    # An 8-bit bitsandbytes optimizer falls back to adamw_torch without a GPU or bitsandbytes
    # (trainers.common.resolve_optim; the provenance says which ran and why).
    optim: str | None = Field(None, description="TrainingArguments' optimizer name (default: its own).")
    max_length: int = Field(1024, ge=8, description="Tokens per sequence (prompt + response), capped by the model.")
    seed: int = Field(0, description="Random seed.")
    logging_steps: int = Field(1, ge=1, description="Log every N steps.")
    save_steps: int = Field(0, ge=0, description="Checkpoint every N steps, so a killed run resumes (0: never).")
    device: str | None = Field(None, description="cpu, cuda (default: cuda when available).")
    threads: ThreadCount = None
    # -- model and tokenizer
    special_tokens: Annotated[list[str], Flag("--special-token")] = Field(
        default_factory=list, description="Add a special token (repeatable), e.g. '<|reasoning|>'."
    )
    chat_template: str | None = Field(None, description="chatml, reasoning, or a .jinja file (default: the model's).")
    freeze_embeddings: bool = Field(False, description="Input embeddings (and a tied LM head) keep their weights.")
    peft: PeftSettings | None = Field(None, description="LoRA adapters instead of full fine-tuning.")
    # -- GPU settings (none costs anything on a CPU)
    bf16: bool | None = Field(None, description="bf16 weights and autocast (default: on a GPU that has it).")
    gradient_checkpointing: bool = Field(False, description="Recompute activations: less memory, more compute.")
    use_liger_kernel: Annotated[bool, Flag("--liger-kernel")] = Field(
        False, description="Liger's fused kernels (GPU; pip install liger-kernel)."
    )
    report_to: Annotated[list[str], Flag(type=str)] = Field(
        default_factory=lambda: ["none"], description="Also log to wandb, tensorboard, trackio ... (comma-separated)."
    )
    # -- sft
    packing: bool = Field(False, description="sft: pack rows into full sequences.")
    assistant_only_loss: bool = Field(False, description="sft: loss on the assistant turns only.")
    completion_only_loss: bool | None = Field(None, description="sft: loss on the completion only (TRL's default).")
    neftune_noise_alpha: float | None = Field(None, gt=0, description="sft: NEFTune noise on the embeddings.")
    mixce_ratio: float | None = Field(None, ge=0, le=1, description="sft: MixCE's weight of forward cross-entropy.")
    # -- rank
    rank_weight: float = Field(
        5.0, ge=0, description="rank: loss = rank_weight x ranking + cross-entropy (on the gold, else the chosen)."
    )
    # -- dpo
    beta: float = Field(0.1, gt=0, description="dpo: the KL penalty's beta.")
    # -- grpo
    task: str | None = Field(None, description="grpo: render prompts from this task's columns (no `prompt` column).")
    task_options: dict[str, Any] = Field(default_factory=dict, description="The task's own knobs.")
    columns: ColumnMap = Field(default_factory=dict, description="As synth: --col question=prompt (repeatable).")
    rewards: dict[str, float] = Field(default_factory=dict, description="grpo: reward name -> weight.")
    num_generations: int = Field(4, ge=2, description="grpo: completions per prompt.")
    max_completion_length: int = Field(64, ge=1, description="grpo: tokens per completion.")
    temperature: float = Field(1.0, gt=0, description="grpo: sampling temperature.")
    top_p: float = Field(1.0, gt=0, le=1, description="grpo: nucleus sampling mass.")
    generation_engine: Literal["auto", "transformers", "vllm"] = Field(
        "auto", description="grpo: generation on transformers or vllm (auto: vLLM on a GPU when installed)."
    )
    # -- anything else TRL's config for the method takes, by TRL's name (adapt here when TRL renames)
    trl_args: dict[str, Any] = Field(default_factory=dict, description="Any other TRL setting, by TRL's name.")

    @field_validator("report_to", mode="before")
    @classmethod
    def _split_report_to(cls, value: Any) -> Any:
        return split_commas(value) if isinstance(value, str) else value

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


class LoopSettings(StrictModel):
    """What every `harness loop` shares: the questions, the rounds, the starting model, the training on top."""

    FLAGS: ClassVar[tuple[Flag, ...]] = (
        Flag("--max-steps", dest="train.max_steps", type=int,
             help="Training steps per round (overrides the recipe's epochs)."),
        Flag("--learning-rate", dest="train.learning_rate", type=float, help="Training learning rate."),
        Flag("--batch-size", dest="train.batch_size", type=int, help="Training rows per step."),
        Flag("--max-length", dest="train.max_length", type=int, help="Training tokens per sequence."),
    )  # fmt: skip
    input: InputPath = Field(description="The questions (synth's input), or `sample`.")
    output: OutputPath = Field(description="Loop folder: DIR/round-K/{...stages}, DIR/pipeline.json and DIR/loop.json.")
    rounds: int = Field(4, ge=1, description="Rounds, each training on the last round's model (cards: 4).")
    model: str = Field("default", description="The starting model: `default`, a local folder or a hub id.")
    recipe: str | None = Field(None, description="The training recipe (file or bundled name).")
    columns: ColumnMap = Field(default_factory=dict, description="As synth: --col question=prompt.")
    limit: int | None = Field(None, ge=1, description="Only the first N questions.")
    synth_batch_size: int | None = Field(None, ge=1, description="synth's --batch-size in each round.")
    train: dict[str, Any] = Field(default_factory=dict, description="TrainConfig settings over the recipe.")
    # Each round generates with the model the round before trained: an engine that loads a model folder.
    engine: Literal["transformers", "vllm"] = Field(
        "transformers", description="Each round's generation: transformers, or vllm (it loads each round's model)."
    )
    vllm: VLLMSection
    ray: RaySection = None
    num_processes: ProcessCount = None  # each round's training, as `harness train --num-processes`
    accelerate_config: AccelerateConfig = None
    threads: ThreadCount = None
    price_input: PriceInput = None  # each round's synth: its cost, and the loop's (loop.json)
    price_output: PriceOutput = None
    cost_per_hour: CostPerHour = None
    # -- measuring each round: the starting model and every round's model on the same drawn questions
    eval: Annotated[Literal["mmlu"] | None, Flag(panel=MEASURE)] = Field(
        None, description="Measure the start and every round's model: mmlu."
    )
    eval_subsets: Annotated[list[str], Flag(type=str, panel=MEASURE)] = Field(
        default_factory=lambda: ["all"],
        description="MMLU subjects or groups, comma-separated (as eval mmlu --subsets).",
    )
    eval_limit: Annotated[int | None, Flag(panel=MEASURE)] = Field(
        None, ge=1, description="Questions drawn per subject."
    )
    eval_seed: Annotated[int, Flag(panel=MEASURE)] = Field(
        0, description="The draw: the same questions for every model."
    )
    keep: Annotated[Literal["last", "best"], Flag(panel=MEASURE)] = Field(
        "last", description="The loop's result: the last round's model, or the best measured one."
    )
    stop_when_worse: Annotated[bool, Flag(panel=MEASURE)] = Field(
        False, description="Stop after a round whose model scores below its start."
    )

    @field_validator("eval_subsets", mode="before")
    @classmethod
    def _split_eval_subsets(cls, value: Any) -> Any:
        return split_commas(value) if isinstance(value, str) else value

    @field_validator("engine", mode="before")
    @classmethod
    def _local_engine(cls, value: Any) -> Any:
        if value == "openai":
            raise ValueError(
                "openai serves one fixed model, but each round generates with the model the round before trained; "
                "use --engine vllm (it loads each round's model folder) or transformers"
            )
        return value

    @model_validator(mode="after")
    def _measured(self) -> LoopSettings:
        if self.eval is None and (self.keep == "best" or self.stop_when_worse):
            raise ValueError("--keep best and --stop-when-worse need each round measured: add --eval mmlu")
        return self


class LoopConfig(LoopSettings):
    """`harness loop star`: rounds of synth (star) -> verify -> pairs -> train (rank or dpo), each on the last model."""

    FLAGS: ClassVar[tuple[Flag, ...]] = (
        *LoopSettings.FLAGS,
        Flag("--gold-rationale", dest="task_options.gold_rationale", type=bool,
             help="The questions have the reference `rationale` (TinyCoT): the rank loss's cross-entropy is on it "
             "and the answer, as the card's."),
    )  # fmt: skip
    HELP: ClassVar[dict[str, str]] = {
        "input": "Questions with answers (as synth --task star), or `sample`.",
        "output": "Loop folder: round-K/{generate,generate-pairs,decontam,train}, loop.json.",
        "recipe": "Training recipe (file or bundled name); default memphis-rank or star-dpo.",
        "sampling.n": "Samples per question (card: 8).",
        "sampling.temperature": "Sampling temperature (card: 0.5).",
        "sampling.max_tokens": "Tokens per rationale (card: 512).",
    }
    method: Literal["rank", "dpo"] = Field("rank", description="Training on the pairs: rank (Memphis-CoT) or dpo.")
    sampling: SamplingOverrides = Field(
        default_factory=SamplingOverrides, description="The star recipe's unless given."
    )
    task_options: dict[str, Any] = Field(
        default_factory=dict, description="star: gold_rationale (input has `rationale`)."
    )
    sft_input: str | None = Field(
        None,
        description="The card's initial SFT phase first: instruction data in its `### User:`/`### Assistant:` or "
        "TinyCoT format (`text`), or TinyCoT's question/rationale/answer columns.",
    )
    sft_recipe: str | None = Field(None, description="Recipe of the initial SFT phase (default memphis-sft).")


class LoopJudgeSettings(StrictModel):
    """The rank judge of `harness loop thought-ranking`: its own model and engine (the card's is external)."""

    PANEL: ClassVar[str] = "Rank judge"
    FLAG_PREFIX: ClassVar[str] = "judge-"  # --judge-model, --judge-engine, --judge-base-url, ...
    HELP: ClassVar[dict[str, str]] = {
        "model": "The rank judge's model: `default`, a folder, a hub id or a served model's name.",
        "engine": "The rank judge's engine: transformers, vllm or openai (an external judge).",
        "price_input": "The rank judge's USD per million prompt tokens (the loop's prices are its synth's).",
        "price_output": "The rank judge's USD per million completion tokens.",
        "cost_per_hour": "The rank judge's USD per engine-hour.",
    }
    model: ModelName = "default"
    engine: EngineName = "transformers"
    max_tokens: int = Field(64, ge=1, description="Tokens per judge reply.")
    rank_chunk: Annotated[int, Flag("--rank-chunk")] = Field(8, ge=2, description="Answers per ranking request.")
    batch_size: int | None = Field(None, ge=1, description="Questions per judged shard.")
    price_input: PriceInput = None  # the judge's own prices: often an API beside a local generator
    price_output: PriceOutput = None
    cost_per_hour: CostPerHour = None
    vllm: VLLMSection
    openai: OpenAISection


class ThoughtRankingConfig(LoopSettings):
    """`harness loop thought-ranking`: rounds of synth (thought-variants) -> rank judge -> best-of-n -> SFT."""

    FLAGS: ClassVar[tuple[Flag, ...]] = (
        *LoopSettings.FLAGS,
        Flag("--variants", dest="task_options.variants", help="The forced thought characters (card: a-zA-Z0-9, 62)."),
        Flag("--max-thought-tokens", dest="task_options.max_thought_tokens", type=int,
             help="Thought budget (card: 128)."),
        Flag("--max-answer-tokens", dest="task_options.max_answer_tokens", type=int,
             help="Answer budget (card: 2048)."),
        Flag("--thought-prefix", dest="task_options.prefix", help=THOUGHT_PREFIX_HELP),
    )  # fmt: skip
    HELP: ClassVar[dict[str, str]] = {
        "input": "Questions (as synth --task thought-variants), or `sample`.",
        "output": "Loop folder: round-K/{generate,verify,select,decontam,train}, loop.json.",
        "recipe": "SFT recipe (file or bundled name); default thought-ranking-sft.",
    }
    task_options: dict[str, Any] = Field(
        default_factory=dict, description="thought-variants: variants, max_thought_tokens, max_answer_tokens."
    )
    judge: LoopJudgeSettings = Field(default_factory=LoopJudgeSettings, description="The rank judge.")
