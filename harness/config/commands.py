"""The config of each data stage: synth, judge, select, rescore, decontam, eval, report, push, lineage.

Each field is one setting: its flag, YAML key, default and help (`description`) at once. `FLAGS` holds the
flags a command adds that are not settings of their own (shorthands into a mapping); `HELP` gives a shared
setting the help it needs for this command (by dotted name).
"""

from __future__ import annotations

import re
from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from harness.config.base import Flag, StrictModel, parse_column_flags, split_commas
from harness.config.engine import (
    CacheSwitch,
    CostPerHour,
    EngineName,
    MaxCost,
    ModelName,
    OpenAISection,
    PriceInput,
    PriceOutput,
    RaySection,
    RayVerbose,
    SamplingOverrides,
    ThreadCount,
    VLLMSection,
)

InputPath = Annotated[str, Flag(short="-i")]
InputSplit = Annotated[str, Field(description="Split of a `datasets` input.")]
ANY_INPUT = "Parquet/JSONL/CSV file, a folder of Parquet shards or a saved `datasets` folder, a hub dataset id"
OutputPath = Annotated[str, Flag(short="-o")]
ColumnMap = Annotated[dict[str, str], Flag("--col", type=list[str], parse=parse_column_flags, metavar="LOGICAL=COLUMN")]
THOUGHT_PREFIX_HELP = (
    "How `<thought>c</thought>` prefixes: `open` (c opens the thought, the model continues and closes it) or "
    "`closed` (the whole tag is forced, then the model's own thought chain)."
)
SYSTEM_PROMPT_HELP = "Replace the task's system prompt: text, or @FILE."


class SynthConfig(StrictModel):
    """`harness synth`: a task's traces for every input row, as Parquet shards."""

    FLAGS: ClassVar[tuple[Flag, ...]] = (
        *(Flag(f"--{c}-col", dest=f"columns.{c}", help=f"Same as --col {c}=COLUMN.") for c in
          ("instruction", "solution", "question", "answer")),
        Flag("--system-prompt", dest="task_options.system_prompt", help=SYSTEM_PROMPT_HELP),
        Flag("--variants", dest="task_options.variants",
             help="thought-variants: the forced thought characters (default a-zA-Z0-9)."),
        Flag("--max-thought-tokens", dest="task_options.max_thought_tokens", type=int,
             help="thought-variants: thought budget (128)."),
        Flag("--thought-prefix", dest="task_options.prefix", help="thought-variants: " + THOUGHT_PREFIX_HELP),
        Flag("--max-answer-tokens", dest="task_options.max_answer_tokens", type=int,
             help="thought-variants, reasoning-token: budget of the answer step."),
    )  # fmt: skip
    HELP: ClassVar[dict[str, str]] = {
        "sampling.n": "Samples per row (default: the task's recipe: 8 for star, else 1).",
        "sampling.temperature": "Sampling temperature, 0 = greedy (default: the task's recipe, 0-0.8).",
        "sampling.max_tokens": "Token budget per completion (default: the task's recipe: backfill and structured "
        "1024, star 512, thought-variants 128, reasoning-token 3000).",
        "threads": "CPU threads for the engine (default: OMP_NUM_THREADS, else the cores idle at start).",
    }
    task: str = Field(
        "backfill", description="Task family: backfill, thought-variants, reasoning-token, star, structured."
    )
    input: InputPath = Field(
        "sample",
        description=f"{ANY_INPUT}, or `sample` for the task's bundled sample.",
    )
    output: OutputPath = Field("runs/synth", description="Artifact folder (created; a rerun resumes it).")
    model: ModelName = "default"
    engine: EngineName = "transformers"
    columns: ColumnMap = Field(
        default_factory=dict,
        description="Read the task's LOGICAL column from the input's COLUMN (repeatable), e.g. --col "
        "question=prompt --col choices=options --col answer=label.",
    )
    sampling: SamplingOverrides = Field(default_factory=SamplingOverrides)
    limit: int | None = Field(None, ge=1, description="Only the first N input rows.")
    batch_size: int = Field(
        8, ge=1, description="transformers engine: requests per static batch. Other engines ignore it."
    )
    window: int | None = Field(
        None,
        ge=1,
        description="Requests kept inside the engine (default: vllm 2048, openai 2 x --concurrency, transformers "
        "4 x --batch-size).",
    )
    shard_rows: int = Field(1024, ge=1, description="Commit a shard every N finished rows ...")
    commit_seconds: float = Field(60.0, gt=0, description="... or every S seconds, whichever comes first.")
    shard: str | None = Field(None, description="I/N: handle only the rows whose record_id hash is I mod N.")
    split: InputSplit = "train"
    threads: ThreadCount = None
    task_options: dict[str, Any] = Field(default_factory=dict, description="The task's own knobs, e.g. system_prompt.")
    cache: CacheSwitch = True
    pairs_output: str | None = Field(None, description="star: the pairs artifact folder (<output>-pairs).")
    vllm: VLLMSection
    openai: OpenAISection
    ray: RaySection = None
    verbose: RayVerbose = False
    price_input: PriceInput = None
    price_output: PriceOutput = None
    cost_per_hour: CostPerHour = None
    max_cost: MaxCost = None

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


class EvalConfig(StrictModel):
    """`harness eval mmlu`: which questions, which model and engine, which prompt mode."""

    HELP: ClassVar[dict[str, str]] = {
        "engine": "transformers (lm-eval hf), vllm (lm-eval vllm), or openai (a server: lm-eval local-completions "
        "to score, local-chat-completions to generate).",
        "sampling.temperature": "Generative mode: sampling temperature (0 = greedy).",
        "sampling.max_tokens": "Generative mode: token budget per answer.",
    }
    output: OutputPath = Field("runs/eval-mmlu", description="Artifact folder (created; a rerun resumes it).")
    model: ModelName = "default"
    engine: EngineName = "transformers"
    dataset: str = Field(
        "bundled",
        description="`bundled` (MMLU test split shipped with the harness), a local file/folder or a hub id "
        "(cais/mmlu) in the cais/mmlu schema: question, subject, choices, answer.",
    )
    dataset_config: str | None = Field(None, description="Hub dataset config name (cais/mmlu: all).")
    split: str = Field("test", description="Dataset split.")
    subsets: Annotated[list[str], Flag(type=str)] = Field(
        default_factory=lambda: ["all"],
        description="Comma-separated subjects (college_mathematics, ...), lm-eval groups (stem, humanities, "
        "social_sciences, other) or `all`.",
    )
    limit: int | None = Field(
        None, ge=1, description="Questions per subject, drawn at random with --seed (default: every question)."
    )
    seed: int = Field(0, description="Seed of the draw (and of sampling in generative mode).")
    mode: Literal["loglikelihood", "cloze", "generative"] = Field(
        "loglikelihood",
        description="loglikelihood (letters A-D, acc), cloze (answer texts, acc_norm) or generative (--task, "
        "parsed answer).",
    )
    task: str | None = Field(None, description="Generative mode: prompt and answer format, `structured`.")
    # Settings given explicitly still win over the preset's.
    preset: Literal["structured-card"] | None = Field(
        None,
        description="`structured-card`: the structured card's table (its 12 subjects x 100 random questions, "
        "generative, its prompt and sampling), printed in its layout beside ours.",
    )
    sampling: SamplingOverrides = Field(default_factory=SamplingOverrides, description="Generative mode only.")
    system_prompt: str | None = Field(None, description="Generative mode: " + SYSTEM_PROMPT_HELP)
    batch_size: int = Field(8, ge=1, description="lm-eval batch size.")
    shard_questions: int = Field(
        100,
        ge=1,
        description="Commit a shard once a chunk of whole subjects holds this many questions (one lm-eval run "
        "each): a killed run loses at most one chunk.",
    )
    device: str | None = Field(None, description="cpu, cuda, cuda:1 ... (default: cuda when available).")
    threads: ThreadCount = None
    cost_per_hour: CostPerHour = None  # lm-eval reports no token counts to price: engine time only
    vllm: VLLMSection
    openai: OpenAISection

    @model_validator(mode="before")
    @classmethod
    def _preset(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("preset") == "structured-card":
            from harness.evalsets.structured_card import LIMIT, SUBJECTS

            data = {"subsets": list(SUBJECTS), "limit": LIMIT, "mode": "generative", "task": "structured", **data}
        return data

    @field_validator("subsets", mode="before")
    @classmethod
    def _split_subsets(cls, value: Any) -> Any:
        return split_commas(value) if isinstance(value, str) else value

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


class JudgeConfig(StrictModel):
    """`harness judge`: which judges, on which columns, with which judge model."""

    HELP: ClassVar[dict[str, str]] = {
        "model": "LLM judges: `default`, a local folder or a hub id.",
        "engine": "LLM judges: transformers, vllm or openai (a server's judge).",
        "threads": "CPU threads for the engine.",
    }
    input: InputPath = Field(
        description=f"The rows to judge: an artifact folder (synth's --output, an earlier judge run), a {ANY_INPUT}."
    )
    split: InputSplit = "train"
    output: OutputPath = Field(description="Judged artifact folder (created; a rerun resumes it).")
    judges: Annotated[list[str], Flag("--judge", short="-j")] = Field(
        description="Judges, comma-separated or repeated: mc, math, exact, regex, reasoning-gym, format "
        "(verifiers); score, pairwise, rank (LLM judges); usefulness (how much the trace helps a model predict "
        "the solution, on its own).",
    )
    columns: ColumnMap = Field(
        default_factory=dict,
        description="Read the judges' LOGICAL column (prediction, gold, choices, question, response, generator, "
        "seed, index, config, pattern) from COLUMN, or from the synth input with source:COLUMN (repeatable); "
        "group=COLUMN: a file's consecutive rows sharing COLUMN are one question (default: its record_id, else "
        "each row alone).",
    )
    source: str | None = Field(
        None, description="The synth run's input, for columns the artifact did not keep (default: as recorded)."
    )
    regex: str | None = Field(None, description="regex judge: the pattern; its first group is the answer.")
    model: ModelName = "default"
    engine: EngineName = "transformers"
    max_tokens: int = Field(64, ge=1, description="LLM judges: token budget per reply.")
    score_low: int = Field(1, description="score: the rubric's lowest score.")
    score_high: int = Field(10, description="score: the rubric's highest score.")
    rank_chunk: int = Field(8, ge=2, description="rank: answers per ranking request.")
    batch_size: int | None = Field(
        None, ge=1, description="Questions per committed shard (256; LLM judges: also a shard every minute)."
    )
    window: int | None = Field(None, ge=1, description="LLM judges: requests kept inside the engine.")
    commit_seconds: float = Field(60.0, gt=0, description="LLM judges: a shard at least this often (seconds).")
    limit: int | None = Field(None, ge=1, description="Only the first N questions.")
    threads: ThreadCount = None
    cache: CacheSwitch = True
    vllm: VLLMSection
    openai: OpenAISection
    ray: RaySection = None
    verbose: RayVerbose = False
    price_input: PriceInput = None
    price_output: PriceOutput = None
    cost_per_hour: CostPerHour = None
    max_cost: MaxCost = None

    @field_validator("judges", mode="before")
    @classmethod
    def _split_judges(cls, value: Any) -> Any:
        return split_commas(value)


class SelectConfig(StrictModel):
    """`harness select best-of-n|pairs`: training rows from a judged artifact."""

    mode: Annotated[Literal["best-of-n", "pairs"], Flag(argument=True, type=str)] = Field(
        description="best-of-n (SFT rows) or pairs (prompt/chosen/rejected rows)."
    )  # the command's argument: `harness select pairs`
    input: InputPath = Field(
        description=f"Judged rows: harness judge's --output, or a {ANY_INPUT} with judge_<NAME>_score columns."
    )
    split: InputSplit = "train"
    output: OutputPath = Field(description="Selection artifact folder.")
    columns: ColumnMap = Field(
        default_factory=dict,
        description="Read the LOGICAL column (group: a question's consecutive rows, default record_id, else each "
        "row alone; prompt: default prompt, instruction or question; response: default completion) from a file's "
        "COLUMN (repeatable). An artifact's rows need none.",
    )
    judge: Annotated[str | None, Flag(short="-j")] = Field(
        None, description="The judge whose score decides (default: the artifact's only judge)."
    )
    threshold: float = Field(
        1.0, allow_inf_nan=False, description="pairs: a score >= threshold is correct, below it incorrect."
    )
    min_score: float | None = Field(
        None, allow_inf_nan=False, description="best-of-n: skip questions whose best score is lower."
    )
    include_invalid: bool = Field(False, description="Also select rows that failed synth's own verdicts.")
    batch_size: int = Field(64, ge=1, description="Questions per committed shard.")
    conversational: bool = Field(
        False, description="pairs: prompt as chat messages, chosen/rejected as assistant messages (TRL)."
    )


class RescoreConfig(StrictModel):
    """`harness rescore`: the current verifiers re-run on an artifact's stored rows, no engine; a flip table."""

    input: InputPath = Field(description="A synth artifact (its task's verdicts) or a judged one (its verifiers).")
    output: OutputPath = Field(description="Artifact folder: the same rows with rescored_* columns, rescore.json.")
    batch_size: int = Field(8192, ge=1, description="Rows per committed shard.")
    examples: int = Field(5, ge=0, description="Example record ids kept per verdict and direction of flip.")


class DecontamConfig(StrictModel):
    """`harness decontam`: mark (or drop) rows sharing a word n-gram with an eval set."""

    input: InputPath = Field(description=f"The rows to check: an artifact folder, a {ANY_INPUT}.")
    split: InputSplit = "train"
    output: OutputPath = Field(description="Artifact folder (created; a rerun resumes it).")
    against: list[str] = Field(
        default_factory=lambda: ["mmlu"],
        description="Eval sets, comma-separated or repeated: mmlu (bundled), FILE[:COLUMN] (Parquet/JSONL/CSV), "
        "lm-eval:TASK (a task with local data).",
    )
    subsets: str = Field("all", description="mmlu: subjects or groups, as eval mmlu --subsets.")
    columns: Annotated[list[str], Flag(type=str)] = Field(
        default_factory=list,
        description="Comma-separated columns to check (default: every text and messages column).",
    )
    ngram: int = Field(13, ge=1, description="Words per n-gram (13, as GPT-3 and lm-eval).")
    drop: bool = Field(False, description="Leave contaminated rows out instead of marking them.")
    batch_size: int = Field(65536, ge=1, description="Rows per committed shard.")

    @field_validator("against", "columns", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        return split_commas(value)

    @field_validator("subsets", mode="before")
    @classmethod
    def _join_subsets(cls, value: Any) -> Any:
        """A YAML list of subjects, as `eval mmlu` takes them, is the comma-separated flag's value."""
        return ",".join(str(item).strip() for item in value) if isinstance(value, list) else value


class ReportConfig(StrictModel):
    """`harness report`: a Markdown and HTML report with plots over any set of artifacts."""

    dirs: Annotated[list[str], Flag(argument=True)] = Field(
        description="Artifact folders (synth, eval, judge, pairs), any mix."
    )
    output: OutputPath = Field("runs/report", description="Report folder: report.md, report.html, plots/.")


class PushConfig(StrictModel):
    """`harness push`: an artifact as a Hub dataset with its card, or a trained model folder as a model repo."""

    dir: Annotated[str, Flag(argument=True)] = Field(
        description="The artifact folder, or a `harness train` model folder, to push."
    )
    repo_id: str = Field(description="The Hub repo, OWNER/NAME (created if missing): a dataset, or a model.")
    private: bool = Field(False, description="Create the repo private (an existing public repo is made private).")
    revision: str | None = Field(None, description="Branch to commit to (created if missing; default main).")
    to_dir: str | None = Field(None, description="Write exactly what would be pushed into this folder; upload nothing.")
    message: str | None = Field(None, description="Commit message (default: rows, kind and name of the artifact).")
    license: str = Field("unknown", description="License id for the card's metadata, e.g. apache-2.0.")
    allow_unchecked: bool = Field(
        False, description="Take input that `harness decontam` never checked against the eval sets (MMLU)."
    )


class LineageConfig(StrictModel):
    """`harness lineage`: a row traced back to its source row, hop by hop, or what trained a model."""

    path: Annotated[str, Flag(argument=True)] = Field(
        description="An artifact folder, or a model folder `harness train` wrote."
    )
    record: str | None = Field(None, description="The record_id of the row to trace back to its source row.")
    sample: int | None = Field(None, description="Only the row with this sample_idx (default: every row of it).")
    json_out: Annotated[bool, Flag("--json")] = Field(False, description="Print JSON for tools instead of text.")
