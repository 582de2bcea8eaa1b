"""The `harness` command line. Thin: parse flags, call a stage, print its summary.

Heavy libraries (torch, transformers, datasets) are imported inside the commands, so `--help` is instant.
"""

from __future__ import annotations

import errno
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

# Precedence, for every flag of every command: typed flag > --config/--recipe YAML > the config model's default.
# A flag's default never overrides the file: declare commands on a HarnessTyper app (below) and it holds by
# itself (harness/cli_flags.py); put a setting's built-in default in its config model (harness/config.py).
from harness.cli_flags import HarnessGroup, HarnessTyper


class _LifecycleOrder(HarnessGroup):
    """`harness --help` lists the commands in the order a dataset goes through them."""

    ORDER = ("synth", "judge", "select", "decontam", "eval", "train", "loop", "report", "push", "lineage")

    def list_commands(self, ctx) -> list[str]:
        names = super().list_commands(ctx)
        return sorted(names, key=lambda n: self.ORDER.index(n) if n in self.ORDER else len(self.ORDER))

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        """A usage error (unknown or misspelled flag, a value of the wrong type) is one line on stderr naming
        the command and the flag, exit 2, like every other bad input; typer would draw a box around it."""
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode, **extra)
        click = _click_exceptions()
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.NoArgsIsHelpError:
            return super().main(args, prog_name, complete_var, standalone_mode, **extra)  # prints the help
        except click.UsageError as err:
            where = err.ctx.command_path if err.ctx else "harness"
            message = " ".join(err.format_message().split())
            console.print(f"[red]error:[/red] {where}: {escape(message)} (see {where} --help)", soft_wrap=True)
            sys.exit(err.exit_code)
        except click.ClickException as err:
            err.show()
            sys.exit(err.exit_code)
        except typer.Abort:
            console.print("Aborted.")
            sys.exit(1)
        sys.exit(code if isinstance(code, int) else 0)


def _click_exceptions():
    """Click's exception classes as typer raises them: recent typer versions carry their own copy of click."""
    try:
        from typer._click import exceptions
    except ImportError:
        from click import exceptions
    return exceptions


app = HarnessTyper(
    cls=_LifecycleOrder,
    help="Synthesize, judge, evaluate and train on reasoning-trace datasets. Every stage reads and writes Parquet.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console(stderr=True)
OPENAI = "Engine openai"
VLLM = "Engine vllm"
THOUGHT_PREFIX_HELP = (
    "How `<thought>c</thought>` prefixes: `open` (c opens the thought, the model continues and closes it) or "
    "`closed` (the whole tag is forced, then the model's own thought chain)."
)
SCALE = "Scale (GPUs, processes)"
LORA = "LoRA (PEFT)"


# Options several commands take with the same meaning.
ConfigOpt = Annotated[Path, typer.Option(help="YAML config; flags given on the command line override it.")]
NoCacheOpt = Annotated[bool, typer.Option("--no-cache", help="Do not read or write the generation cache.")]
ModelOpt = Annotated[str, typer.Option(help="`default` (SmolLM2-135M-Instruct, bundled), a local folder or a hub id.")]
AllowUncheckedOpt = Annotated[
    bool,
    typer.Option(
        "--allow-unchecked", help="Take input that `harness decontam` never checked against the eval sets (MMLU)."
    ),
]
ArtifactOutputOpt = Annotated[
    str, typer.Option("--output", "-o", help="Artifact folder (created; a rerun resumes it).")
]

# Engine options, declared once: every command that runs a model takes the same flags.
BaseUrlOpt = Annotated[
    str, typer.Option(help="openai: the server's base URL, e.g. http://127.0.0.1:8000/v1.", rich_help_panel=OPENAI)
]
ApiKeyEnvOpt = Annotated[
    str,
    typer.Option(
        help="openai: the environment variable holding the API key (default OPENAI_API_KEY).",
        rich_help_panel=OPENAI,
    ),
]
ConcurrencyOpt = Annotated[
    int,
    typer.Option(
        help="openai: requests in flight at once (default 16); use --batch-size of a few times this.",
        rich_help_panel=OPENAI,
    ),
]
TimeoutOpt = Annotated[
    float,
    typer.Option(help="openai: seconds per attempt before it is retried (default 120).", rich_help_panel=OPENAI),
]
MaxRetriesOpt = Annotated[
    int,
    typer.Option(help="openai: retries of a failed request (429, 5xx, timeouts) (default 6).", rich_help_panel=OPENAI),
]
RpmOpt = Annotated[int, typer.Option(help="openai: at most this many requests per minute.", rich_help_panel=OPENAI)]
TpmOpt = Annotated[int, typer.Option(help="openai: at most this many tokens per minute.", rich_help_panel=OPENAI)]
TensorParallelSizeOpt = Annotated[int, typer.Option(help="vllm: GPUs per model replica.", rich_help_panel=VLLM)]
PipelineParallelSizeOpt = Annotated[
    int, typer.Option(help="vllm: pipeline stages (e.g. one per node with Ray).", rich_help_panel=VLLM)
]
DataParallelSizeOpt = Annotated[
    int, typer.Option(help="vllm: replicas (offline vLLM: one process each, see README).", rich_help_panel=VLLM)
]
DistributedExecutorBackendOpt = Annotated[
    str, typer.Option(help="vllm: `ray` for a multi-node run, or `mp`.", rich_help_panel=VLLM)
]
GpuMemoryUtilizationOpt = Annotated[
    float, typer.Option(help="vllm: share of GPU memory vLLM may take.", rich_help_panel=VLLM)
]
MaxModelLenOpt = Annotated[
    int, typer.Option(help="vllm: context length (prompt + completion) (CPU default 2048).", rich_help_panel=VLLM)
]
QuantizationOpt = Annotated[
    str, typer.Option(help="vllm: quantization method (awq, gptq, fp8, ...).", rich_help_panel=VLLM)
]
KvCacheMemoryOpt = Annotated[
    str, typer.Option(help="vllm: KV cache size, e.g. 256MiB or 4GiB (CPU default 256MiB).", rich_help_panel=VLLM)
]


RAY = "Ray cluster"
RayOpt = Annotated[
    str,
    typer.Option(
        metavar="[ADDRESS]",
        help="Run engine replicas on a Ray cluster: `auto`, also `--ray` alone (RAY_ADDRESS, else the cluster "
        "`ray start` began here, else a local one), `local` (a new local cluster) or HOST:PORT.",
        rich_help_panel=RAY,
    ),
]
ReplicasOpt = Annotated[
    int,
    typer.Option(help="--ray: engine replicas (default: one per GPU, or one per --threads CPUs).", rich_help_panel=RAY),
]
GpusPerReplicaOpt = Annotated[
    int,
    typer.Option(
        help="--ray: GPUs per replica; vllm splits the model over them (tensor parallel).", rich_help_panel=RAY
    ),
]


def _done(line: str, result: object) -> None:
    """A command's one-line summary on stderr; stdout carries only its result (a path or URL), for scripts."""
    console.print(line, highlight=False, soft_wrap=True)
    typer.echo(result)


def _ray_section(address: str | None, replicas: int | None, gpus_per_replica: int | None) -> dict | None:
    """The config's `ray` section from the flags (None: not given, the YAML's own stays)."""
    if address is None and replicas is None and gpus_per_replica is None:
        return None
    return {"address": address, "replicas": replicas, "gpus_per_replica": gpus_per_replica}


@app.callback()
def main() -> None:
    """reasoning-harness: see `harness COMMAND --help`."""


@app.command()
def synth(
    task: Annotated[
        str, typer.Option(help="Task family: backfill, thought-variants, reasoning-token, star, structured.")
    ] = "backfill",
    input: Annotated[
        str,
        typer.Option(
            "--input",
            "-i",
            help="Parquet/JSONL/CSV file, a folder of Parquet shards or a saved "
            "`datasets` folder, a hub dataset id, or `sample` for the task's bundled sample.",
        ),
    ] = "sample",
    output: ArtifactOutputOpt = "runs/synth",
    model: ModelOpt = None,
    engine: Annotated[
        str, typer.Option(help="Inference engine: transformers, vllm, or openai (any OpenAI-compatible server).")
    ] = None,
    config: ConfigOpt = None,
    limit: Annotated[int, typer.Option(help="Only the first N input rows.")] = None,
    batch_size: Annotated[
        int, typer.Option(help="transformers engine: requests per static batch. Other engines ignore it.")
    ] = 8,
    window: Annotated[
        int,
        typer.Option(
            help="Requests kept inside the engine (default: vllm 2048, openai 2 x --concurrency, transformers 4 x "
            "--batch-size)."
        ),
    ] = None,
    shard_rows: Annotated[int, typer.Option(help="Commit a shard every N finished rows ...")] = 1024,
    commit_seconds: Annotated[float, typer.Option(help="... or every S seconds, whichever comes first.")] = 60.0,
    col: Annotated[
        list[str],
        typer.Option(
            "--col",
            metavar="LOGICAL=COLUMN",
            help="Read the task's LOGICAL column from the input's COLUMN (repeatable), e.g. "
            "--col question=prompt --col choices=options --col answer=label.",
        ),
    ] = None,
    instruction_col: Annotated[str, typer.Option(help="Same as --col instruction=COLUMN.")] = None,
    solution_col: Annotated[str, typer.Option(help="Same as --col solution=COLUMN.")] = None,
    question_col: Annotated[str, typer.Option(help="Same as --col question=COLUMN.")] = None,
    answer_col: Annotated[str, typer.Option(help="Same as --col answer=COLUMN.")] = None,
    n: Annotated[int, typer.Option(help="Samples per row (default: the task's recipe: 8 for star, else 1).")] = None,
    temperature: Annotated[
        float, typer.Option(help="Sampling temperature, 0 = greedy (default: the task's recipe, 0-0.8).")
    ] = None,
    top_p: Annotated[float, typer.Option(help="Nucleus sampling mass.")] = None,
    min_p: Annotated[float, typer.Option(help="Minimum token probability relative to the top token.")] = None,
    top_k: Annotated[int, typer.Option(help="Keep only the K most likely tokens (0 = off).")] = None,
    repetition_penalty: Annotated[float, typer.Option(help="Penalty on tokens already in the text (1 = off).")] = None,
    sampling_from_model: Annotated[
        bool,
        typer.Option(
            "--sampling-from-model/--no-sampling-from-model",
            help="Take sampling from the model's generation_config.json (under these flags); default: the task's "
            "choice (reasoning-token: yes).",
        ),
    ] = None,
    max_tokens: Annotated[
        int,
        typer.Option(
            help="Token budget per completion (default: the task's recipe: backfill and structured 1024, star 512, "
            "thought-variants 128, reasoning-token 3000)."
        ),
    ] = None,
    stop: Annotated[list[str], typer.Option(help="Stop string (repeatable); replaces the task's stops.")] = None,
    seed: Annotated[int, typer.Option(help="Random seed for sampling.")] = None,
    shard: Annotated[str, typer.Option(help="I/N: handle only the rows whose record_id hash is I mod N.")] = None,
    split: Annotated[str, typer.Option(help="Split of a `datasets` input.")] = None,
    threads: Annotated[
        int, typer.Option(help="CPU threads for the engine (default: OMP_NUM_THREADS, else the cores idle at start).")
    ] = None,
    system_prompt: Annotated[str, typer.Option(help="Replace the task's system prompt: text, or @FILE.")] = None,
    variants: Annotated[
        str, typer.Option(help="thought-variants: the forced thought characters (default a-zA-Z0-9).")
    ] = None,
    max_thought_tokens: Annotated[int, typer.Option(help="thought-variants: thought budget (128).")] = None,
    thought_prefix: Annotated[str, typer.Option(help="thought-variants: " + THOUGHT_PREFIX_HELP)] = None,
    max_answer_tokens: Annotated[
        int, typer.Option(help="thought-variants, reasoning-token: budget of the answer step.")
    ] = None,
    pairs_output: Annotated[str, typer.Option(help="star: the pairs artifact folder (<output>-pairs).")] = None,
    no_cache: NoCacheOpt = False,
    base_url: BaseUrlOpt = None,
    api_key_env: ApiKeyEnvOpt = None,
    concurrency: ConcurrencyOpt = None,
    timeout: TimeoutOpt = None,
    max_retries: MaxRetriesOpt = None,
    rpm: RpmOpt = None,
    tpm: TpmOpt = None,
    tensor_parallel_size: TensorParallelSizeOpt = None,
    pipeline_parallel_size: PipelineParallelSizeOpt = None,
    data_parallel_size: DataParallelSizeOpt = None,
    distributed_executor_backend: DistributedExecutorBackendOpt = None,
    gpu_memory_utilization: GpuMemoryUtilizationOpt = None,
    max_model_len: MaxModelLenOpt = None,
    quantization: QuantizationOpt = None,
    kv_cache_memory: KvCacheMemoryOpt = None,
    ray: RayOpt = None,
    replicas: ReplicasOpt = None,
    gpus_per_replica: GpusPerReplicaOpt = None,
) -> None:
    """Generate reasoning traces for every input row and write them as Parquet shards.

    Example: harness synth --task backfill --input sample --limit 16 --output runs/demo
    """
    from harness.config import load_config, parse_column_flags
    from harness.stages.synth import run_synth

    shorthand = {
        "instruction": instruction_col,
        "solution": solution_col,
        "question": question_col,
        "answer": answer_col,
    }
    task_options = {
        "system_prompt": system_prompt,
        "variants": variants,
        "max_thought_tokens": max_thought_tokens,
        "max_answer_tokens": max_answer_tokens,
        "prefix": thought_prefix,
    }
    task_options = {k: v for k, v in task_options.items() if v is not None}
    with _clean_errors():
        columns = parse_column_flags(col or [])
        columns.update({k: v for k, v in shorthand.items() if v is not None})
        cfg = load_config(
            config,
            {
                "task": task,
                "input": input,
                "output": output,
                "model": model,
                "engine": engine,
                "limit": limit,
                "batch_size": batch_size,
                "window": window,
                "shard_rows": shard_rows,
                "commit_seconds": commit_seconds,
                "columns": columns or None,
                "n": n,
                "temperature": temperature,
                "top_p": top_p,
                "min_p": min_p,
                "top_k": top_k,
                "repetition_penalty": repetition_penalty,
                "from_model": sampling_from_model,
                "max_tokens": max_tokens,
                "stop": stop,
                "seed": seed,
                "shard": shard,
                "split": split,
                "threads": threads,
                "task_options": task_options or None,
                "pairs_output": pairs_output,
                "cache": False if no_cache else None,
                "base_url": base_url,
                "api_key_env": api_key_env,
                "concurrency": concurrency,
                "timeout": timeout,
                "max_retries": max_retries,
                "rpm": rpm,
                "tpm": tpm,
                "tensor_parallel_size": tensor_parallel_size,
                "pipeline_parallel_size": pipeline_parallel_size,
                "data_parallel_size": data_parallel_size,
                "distributed_executor_backend": distributed_executor_backend,
                "gpu_memory_utilization": gpu_memory_utilization,
                "max_model_len": max_model_len,
                "quantization": quantization,
                "kv_cache_memory_bytes": kv_cache_memory,
                "ray": _ray_section(ray, replicas, gpus_per_replica),
            },
        )
        summary = run_synth(cfg, console)
    _print_synth_summary(summary)


def _print_synth_summary(summary) -> None:
    table = Table(title="synth summary", show_header=False)
    table.add_row("rows this run", f"{summary.rows_in} in -> {summary.rows_out} out")
    if summary.rows_skipped:
        table.add_row("resumed", f"{summary.rows_skipped} rows were already done")
    table.add_row("valid", f"{summary.valid}/{summary.rows_out} ({summary.share_valid:.0%})")
    for reason, count in sorted(summary.rejection_reasons.items(), key=lambda kv: -kv[1]):
        table.add_row(f"  rejected: {reason}", str(count))
    if summary.retried_rows:
        table.add_row("retried", f"{summary.retried_rows} rows of earlier failed requests")
    if summary.engine_errors:
        table.add_row(
            "engine errors", f"{summary.engine_errors} rows failed after every retry; run again to retry them"
        )
    if usage := summary.engine_usage:
        cost = f", cost {usage['cost']:.4f}" if usage.get("cost") is not None else ""
        table.add_row(
            "requests",
            f"{usage['requests']} answered, {usage['retries']} retries, {usage['failed']} failed; "
            f"{usage['prompt_tokens']} prompt + {usage['completion_tokens']} completion tokens{cost}",
        )
    table.add_row(
        "generated",
        f"{summary.generated_tokens} tokens in {summary.seconds:.1f}s "
        f"({summary.tokens_per_second:.1f} tok/s); {summary.cache_hits} rows from cache",
    )
    share = summary.artifact_valid / summary.artifact_rows if summary.artifact_rows else 0.0
    table.add_row("artifact", f"{summary.output}/*.parquet: {summary.artifact_rows} rows, {share:.0%} valid")
    if summary.pairs_output:
        table.add_row("pairs", f"{summary.pairs_output}/*.parquet: {summary.pairs} (correct, incorrect) pairs")
    console.print(table)
    typer.echo(summary.output)  # stdout carries only the artifact path, for scripts


eval_app = HarnessTyper(
    help="Evaluate a model on a benchmark through lm-eval, offline; one row per question as Parquet.",
    no_args_is_help=True,
)
app.add_typer(eval_app, name="eval")


@eval_app.command("mmlu")
def eval_mmlu(
    model: ModelOpt = None,
    subsets: Annotated[
        str,
        typer.Option(
            help="Comma-separated subjects (college_mathematics, ...), lm-eval groups "
            "(stem, humanities, social_sciences, other) or `all`."
        ),
    ] = None,
    limit: Annotated[
        int, typer.Option(help="Questions per subject, drawn at random with --seed (default: every question).")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the draw (and of sampling in generative mode).")] = None,
    mode: Annotated[
        str,
        typer.Option(
            help="loglikelihood (letters A-D, acc), cloze (answer texts, acc_norm) or generative (--task, parsed answer)."
        ),
    ] = None,
    task: Annotated[str, typer.Option(help="Generative mode: prompt and answer format, `structured`.")] = None,
    preset: Annotated[
        str,
        typer.Option(
            help="`structured-card`: the structured card's table (its 12 subjects x 100 random questions, "
            "generative, its prompt and sampling), printed in its layout beside ours."
        ),
    ] = None,
    output: ArtifactOutputOpt = "runs/eval-mmlu",
    dataset: Annotated[
        str,
        typer.Option(
            help="`bundled` (MMLU test split shipped with the harness), a local file/folder or a hub id "
            "(cais/mmlu) in the cais/mmlu schema: question, subject, choices, answer."
        ),
    ] = None,
    dataset_config: Annotated[str, typer.Option(help="Hub dataset config name (cais/mmlu: all).")] = None,
    split: Annotated[str, typer.Option(help="Dataset split.")] = None,
    engine: Annotated[
        str,
        typer.Option(
            help="transformers (lm-eval hf), vllm (lm-eval vllm), or openai (a server: lm-eval local-completions "
            "to score, local-chat-completions to generate)."
        ),
    ] = None,
    config: ConfigOpt = None,
    batch_size: Annotated[int, typer.Option(help="lm-eval batch size.")] = 8,
    device: Annotated[str, typer.Option(help="cpu, cuda, cuda:1 ... (default: cuda when available).")] = None,
    threads: Annotated[
        int, typer.Option(help="CPU threads (default: OMP_NUM_THREADS, else the cores idle at start).")
    ] = None,
    temperature: Annotated[float, typer.Option(help="Generative mode: sampling temperature (0 = greedy).")] = None,
    top_p: Annotated[float, typer.Option(help="Generative mode: nucleus sampling mass.")] = None,
    max_tokens: Annotated[int, typer.Option(help="Generative mode: token budget per answer.")] = None,
    system_prompt: Annotated[
        str, typer.Option(help="Generative mode: replace the task's system prompt: text, or @FILE.")
    ] = None,
    base_url: BaseUrlOpt = None,
    api_key_env: ApiKeyEnvOpt = None,
    concurrency: ConcurrencyOpt = None,
    timeout: TimeoutOpt = None,
    max_retries: MaxRetriesOpt = None,
    tensor_parallel_size: TensorParallelSizeOpt = None,
    gpu_memory_utilization: GpuMemoryUtilizationOpt = None,
    max_model_len: MaxModelLenOpt = None,
    quantization: QuantizationOpt = None,
    kv_cache_memory: KvCacheMemoryOpt = None,
) -> None:
    """Evaluate a model on MMLU through lm-eval, offline, and print the seed card's table.

    Example: harness eval mmlu --subsets college_mathematics,high_school_psychology --limit 100 --seed 0 -o runs/mmlu
    """
    from harness.config import EvalConfig, load_config
    from harness.stages.eval_mmlu import run_eval_mmlu

    with _clean_errors():
        cfg = load_config(
            config,
            {
                "model": model,
                "subsets": subsets,
                "limit": limit,
                "seed": seed,
                "mode": mode,
                "task": task,
                "preset": preset,
                "output": output,
                "dataset": dataset,
                "dataset_config": dataset_config,
                "split": split,
                "engine": engine,
                "batch_size": batch_size,
                "device": device,
                "threads": threads,
                "temperature": temperature,
                "top_p": top_p,
                "max_tokens": max_tokens,
                "system_prompt": system_prompt,
                "base_url": base_url,
                "api_key_env": api_key_env,
                "concurrency": concurrency,
                "timeout": timeout,
                "max_retries": max_retries,
                "tensor_parallel_size": tensor_parallel_size,
                "gpu_memory_utilization": gpu_memory_utilization,
                "max_model_len": max_model_len,
                "quantization": quantization,
                "kv_cache_memory_bytes": kv_cache_memory,
            },
            EvalConfig,
        )
        run = run_eval_mmlu(cfg, console)
    from reports.mmlu import rich_table

    console.print(rich_table(run.summary, run.title))
    done = f"{run.asked} questions asked in {run.seconds:.1f}s"
    if run.skipped:
        done += f"; {run.skipped} were already in the artifact"
    _done(f"{done}. Table: {run.report}; summary: {run.summary_file}", run.output)


train_app = HarnessTyper(
    help="Fine-tune a model on an artifact (TRL): sft, grpo, rank, dpo. Writes a model folder that synth and eval load.",
    no_args_is_help=True,
)
app.add_typer(train_app, name="train")

TRAIN_DOCS = {
    "sft": "Supervised fine-tuning on `messages` (or prompt/completion, or text) rows.",
    "grpo": "GRPO with our validators and verifiers as rewards (recipe: `rewards: {name: weight}`).",
    "rank": "The Memphis card's ranking loss on (prompt, chosen, rejected) pairs, plus cross-entropy on the chosen.",
    "dpo": "DPO on (prompt, chosen, rejected) pairs, e.g. a star `-pairs` artifact.",
}


def _bundled_recipes() -> str:
    """The names `--recipe` takes, from the recipes folder (found, not imported: --help stays instant)."""
    from importlib.util import find_spec

    folder = Path(find_spec("trainers").submodule_search_locations[0]) / "recipes"
    return ", ".join(sorted(p.stem for p in folder.glob("*.yaml")))


def _train_command(method: str):
    def command(
        input: Annotated[str, typer.Option("--input", "-i", help="Artifact folder or Parquet/JSONL file.")] = None,
        output: Annotated[
            str, typer.Option("--output", "-o", help="Model folder to write (atomic; a rerun is a no-op).")
        ] = None,
        model: Annotated[
            str, typer.Option(help="`default` (SmolLM2-135M-Instruct, bundled), a local folder or a hub id.")
        ] = None,
        recipe: Annotated[
            str, typer.Option(help=f"YAML recipe file or a bundled recipe ({_bundled_recipes()}); flags override it.")
        ] = None,
        max_steps: Annotated[int, typer.Option(help="Optimizer steps (overrides the epochs).")] = None,
        learning_rate: Annotated[float, typer.Option(help="Peak learning rate.")] = None,
        batch_size: Annotated[int, typer.Option(help="Rows per device per step (default 4, or the recipe's).")] = None,
        max_length: Annotated[int, typer.Option(help="Tokens per sequence.")] = None,
        limit: Annotated[int, typer.Option(help="Only the first N usable rows.")] = None,
        seed: Annotated[int, typer.Option(help="Random seed.")] = None,
        special_token: Annotated[
            list[str], typer.Option(help="Add a special token (repeatable), e.g. '<|reasoning|>'.")
        ] = None,
        save_steps: Annotated[int, typer.Option(help="Checkpoint every N steps, so a killed run resumes.")] = None,
        threads: Annotated[
            int, typer.Option(help="CPU threads (default: OMP_NUM_THREADS, else the cores idle at start).")
        ] = None,
        lora_r: Annotated[
            int, typer.Option(help="Train LoRA adapters of this rank instead of the whole model.", rich_help_panel=LORA)
        ] = None,
        lora_alpha: Annotated[float, typer.Option(help="LoRA alpha (default 2 x rank).", rich_help_panel=LORA)] = None,
        lora_targets: Annotated[
            str,
            typer.Option(
                help="Modules that get adapters, comma-separated (default all-linear: every linear layer but the "
                "LM head).",
                rich_help_panel=LORA,
            ),
        ] = None,
        merge: Annotated[
            bool,
            typer.Option(
                "--merge",
                help="Write the merged model (loads like any model folder); the adapter goes in OUTPUT/adapter/.",
                rich_help_panel=LORA,
            ),
        ] = False,
        bf16: Annotated[
            bool, typer.Option("--bf16/--no-bf16", help="bf16 weights and autocast (default: on a GPU that has it).")
        ] = None,
        gradient_checkpointing: Annotated[
            bool, typer.Option("--gradient-checkpointing", help="Recompute activations: less memory, more compute.")
        ] = None,
        liger_kernel: Annotated[
            bool, typer.Option("--liger-kernel", help="Liger's fused kernels (GPU; pip install liger-kernel).")
        ] = None,
        report_to: Annotated[
            str, typer.Option(help="Also log to wandb, tensorboard, trackio ... (comma-separated).")
        ] = None,
        num_processes: Annotated[
            int,
            typer.Option(
                help="Train in N processes (accelerate launch): DDP on N GPUs, or N CPU processes (gloo).",
                rich_help_panel=SCALE,
            ),
        ] = None,
        accelerate_config: Annotated[
            str,
            typer.Option(
                help="With --num-processes: an `accelerate config` file (FSDP, DeepSpeed ZeRO, multi-node).",
                rich_help_panel=SCALE,
            ),
        ] = None,
        allow_unchecked: AllowUncheckedOpt = False,
    ) -> None:
        import sys

        from harness.config import ConfigError
        from harness.evalsets.gate import require_checked
        from harness.scale import distributed
        from harness.stages.train import load_train_config, run_train

        with _clean_errors():
            cfg = load_train_config(
                method,
                recipe,
                {
                    "input": input,
                    "output": output,
                    "model": model,
                    "max_steps": max_steps,
                    "learning_rate": learning_rate,
                    "batch_size": batch_size,
                    "max_length": max_length,
                    "limit": limit,
                    "seed": seed,
                    "special_tokens": special_token or None,
                    "save_steps": save_steps,
                    "threads": threads,
                    "peft": {"r": lora_r, "lora_alpha": lora_alpha, "target_modules": lora_targets}
                    if lora_r or lora_alpha or lora_targets
                    else None,
                    "bf16": bf16,
                    "gradient_checkpointing": gradient_checkpointing,
                    "use_liger_kernel": liger_kernel,
                    "report_to": report_to,
                },
            )
            # The gate reads the resolved input (a flag or the recipe/config file's `input:`).
            status = require_checked(cfg.input, allow_unchecked, f"harness train {method} --input")
            if distributed.is_main():
                console.print(f"decontamination: {status.describe()}", highlight=False, soft_wrap=True)
            if merge:
                if cfg.peft is None:
                    raise ConfigError("--merge applies to LoRA training: add --lora-r R, or a `peft:` recipe section")
                cfg.peft.merge = True
            if (num_processes or 1) > 1 and not distributed.is_distributed():
                from harness.scale.launch import run_launch

                raise typer.Exit(run_launch(sys.argv[1:], num_processes, accelerate_config))  # checked flags first
            summary = run_train(cfg, console, recipe)
        if distributed.is_main():  # under accelerate launch, one process reports for all
            _print_train_summary(summary)

    command.__doc__ = (
        f"{TRAIN_DOCS[method]}\n\nExample: harness train {method} --input runs/x --output runs/model --recipe FILE"
    )
    return command


for _method in TRAIN_DOCS:
    train_app.command(_method)(_train_command(_method))


def _print_train_summary(summary) -> None:
    table = Table(title=f"train {summary.method} summary", show_header=False)
    if summary.already_done:
        table.add_row("already trained", "this output holds the same run; nothing to do")
    skipped = summary.skipped_invalid + summary.skipped_by_task
    table.add_row("rows", f"{summary.rows} used" + (f", {skipped} skipped (invalid)" if skipped else ""))
    loss = "n/a" if summary.first_loss is None else f"{summary.first_loss:.4f} -> {summary.last_loss:.4f}"
    table.add_row("steps", f"{summary.steps} in {summary.seconds:.1f}s ({summary.seconds_per_step:.2f} s/step)")
    table.add_row("loss (first -> last logged)", loss)
    table.add_row("model", f"{summary.output} (harness-train.json, training_log.jsonl)")
    console.print(table)
    typer.echo(summary.output)  # stdout carries only the model folder, for scripts


loop_app = HarnessTyper(
    help="Self-improvement loops: synth -> verify/judge -> select -> train, for N rounds, every round kept.",
    no_args_is_help=True,
)
app.add_typer(loop_app, name="loop")

# Options every loop takes, declared once.
LoopRoundsOpt = Annotated[int, typer.Option(help="Rounds, each training on the last round's model (cards: 4).")]
LoopModelOpt = Annotated[str, typer.Option(help="The starting model: `default`, a local folder or a hub id.")]
LoopLimitOpt = Annotated[int, typer.Option(help="Only the first N questions.")]
LoopColOpt = Annotated[
    list[str], typer.Option("--col", metavar="LOGICAL=COLUMN", help="As synth: --col question=prompt.")
]
LoopMaxStepsOpt = Annotated[int, typer.Option(help="Training steps per round (overrides the recipe's epochs).")]
LoopLearningRateOpt = Annotated[float, typer.Option(help="Training learning rate.")]
LoopBatchSizeOpt = Annotated[int, typer.Option(help="Training rows per step.")]
LoopMaxLengthOpt = Annotated[int, typer.Option(help="Training tokens per sequence.")]
LoopThreadsOpt = Annotated[int, typer.Option(help="CPU threads.")]
LoopConfigOpt = Annotated[Path, typer.Option(help="YAML loop config; flags given on the command line override it.")]
MEASURE = "Measuring each round"
LoopEvalOpt = Annotated[
    str, typer.Option("--eval", help="Measure the start and every round's model: mmlu.", rich_help_panel=MEASURE)
]
LoopEvalSubsetsOpt = Annotated[
    str,
    typer.Option(help="MMLU subjects or groups, comma-separated (as eval mmlu --subsets).", rich_help_panel=MEASURE),
]
LoopEvalLimitOpt = Annotated[int, typer.Option(help="Questions drawn per subject.", rich_help_panel=MEASURE)]
LoopKeepOpt = Annotated[
    str,
    typer.Option(help="The loop's result: the last round's model, or the best measured one.", rich_help_panel=MEASURE),
]
LoopStopWhenWorseOpt = Annotated[
    bool,
    typer.Option(
        "--stop-when-worse", help="Stop after a round whose model scores below its start.", rich_help_panel=MEASURE
    ),
]


LOOP_SETTINGS = ("input", "output", "rounds", "model", "recipe", "limit", "threads")
LOOP_MEASURE = ("eval", "eval_subsets", "eval_limit", "keep", "stop_when_worse")
LOOP_TRAIN = ("max_steps", "learning_rate", "batch_size", "max_length")


def _loop_overrides(given: dict) -> dict:
    """The options every loop shares, from a loop command's arguments by name, as `load_config` overrides."""
    from harness.config import parse_column_flags

    train = {k: given[k] for k in LOOP_TRAIN if given[k] is not None}
    shared = {k: given[k] for k in LOOP_SETTINGS}
    shared |= {k: given[k] or None for k in LOOP_MEASURE}  # None: not given (--stop-when-worse is a plain flag)
    return {**shared, "columns": parse_column_flags(given["col"] or []) or None, "train": train or None}


def _print_loop_summary(summary, title: str, counts: dict[str, str]) -> None:
    """One line per round: the round's `counts` (heading -> record field), its training, its model."""
    table = Table(title=title)
    measured = summary.start_eval is not None
    for column in ("round", *counts, "steps", "loss (first -> last)", *(["accuracy"] if measured else []), "model"):
        table.add_column(column)
    if measured:
        start = summary.start_eval
        accuracy = f"{start['accuracy']:.3f} ({start['questions']} q)"
        table.add_row(
            "start", *["-"] * (len(counts) + 2), accuracy, str(summary.rounds[0].model_in if summary.rounds else "-")
        )
    for r in summary.rounds:
        loss = r.train.get("first_loss"), r.train.get("last_loss")
        shown = "-" if loss[0] is None else f"{loss[0]:.3f} -> {loss[1]:.3f}"
        cells = [str(getattr(r, name)) for name in counts.values()]
        accuracy = [f"{r.eval['accuracy']:.3f}" if r.eval else "-"] if measured else []
        table.add_row(str(r.round), *cells, str(r.train.get("steps", "-")), shown, *accuracy, r.model_out or "-")
    console.print(table)
    if summary.keep == "best" and summary.final_model:
        console.print(f"kept the most accurate round's model: {escape(summary.final_model)}", highlight=False)
    if summary.stopped:
        console.print(f"[yellow]stopped early:[/yellow] {escape(summary.stopped)}", highlight=False)
    typer.echo(summary.final_model or summary.output)  # stdout: the last trained model, for scripts


@loop_app.command("star")
def loop_star(
    input: Annotated[
        str, typer.Option("--input", "-i", help="Questions with answers (as synth --task star), or `sample`.")
    ] = None,
    output: Annotated[str, typer.Option("--output", "-o", help="Loop folder: round-K/{samples,pairs,model}.")] = None,
    rounds: LoopRoundsOpt = 4,
    model: LoopModelOpt = None,
    method: Annotated[str, typer.Option(help="Training on the pairs: rank (Memphis-CoT) or dpo.")] = None,
    recipe: Annotated[
        str, typer.Option(help="Training recipe (file or bundled name); default memphis-rank or star-dpo.")
    ] = None,
    limit: LoopLimitOpt = None,
    col: LoopColOpt = None,
    n: Annotated[int, typer.Option(help="Samples per question (card: 8).")] = None,
    temperature: Annotated[float, typer.Option(help="Sampling temperature (card: 0.5).")] = None,
    max_tokens: Annotated[int, typer.Option(help="Tokens per rationale (card: 512).")] = None,
    seed: Annotated[int, typer.Option(help="Sampling seed.")] = None,
    sft_input: Annotated[
        str,
        typer.Option(
            help="The card's initial SFT phase first: instruction data in its `### User:`/`### Assistant:` or "
            "TinyCoT format (`text`), or TinyCoT's question/rationale/answer columns."
        ),
    ] = None,
    sft_recipe: Annotated[str, typer.Option(help="Recipe of the initial SFT phase (default memphis-sft).")] = None,
    gold_rationale: Annotated[
        bool,
        typer.Option(
            "--gold-rationale",
            help="The questions have the reference `rationale` (TinyCoT): the rank loss's cross-entropy is on it "
            "and the answer, as the card's.",
        ),
    ] = False,
    max_steps: LoopMaxStepsOpt = None,
    learning_rate: LoopLearningRateOpt = None,
    batch_size: LoopBatchSizeOpt = None,
    max_length: LoopMaxLengthOpt = None,
    threads: LoopThreadsOpt = None,
    eval: LoopEvalOpt = None,
    eval_subsets: LoopEvalSubsetsOpt = None,
    eval_limit: LoopEvalLimitOpt = None,
    keep: LoopKeepOpt = None,
    stop_when_worse: LoopStopWhenWorseOpt = False,
    config: LoopConfigOpt = None,
) -> None:
    """Memphis-CoT rounds: sample and verify rationales, pair correct with incorrect, train, repeat on the new model.

    Example: harness loop star --input sample --limit 20 --rounds 4 --output runs/star-loop
    """
    from harness.config import LoopConfig, load_config
    from harness.stages.loop_star import run_star_loop

    given = locals()
    with _clean_errors():
        star = {"method": method, "n": n, "temperature": temperature, "max_tokens": max_tokens, "seed": seed}
        star.update(sft_input=sft_input, sft_recipe=sft_recipe)
        if gold_rationale:
            star["task_options"] = {"gold_rationale": True}
        cfg = load_config(config, {**_loop_overrides(given), **star}, LoopConfig)
        summary = run_star_loop(cfg, console)
    _print_loop_summary(summary, "loop star summary", {"samples": "rows", "valid": "valid", "pairs": "pairs_count"})


@loop_app.command("thought-ranking")
def loop_thought_ranking(
    input: Annotated[
        str, typer.Option("--input", "-i", help="Questions (as synth --task thought-variants), or `sample`.")
    ] = None,
    output: Annotated[
        str, typer.Option("--output", "-o", help="Loop folder: round-K/{variants,judged,sft,model}.")
    ] = None,
    rounds: LoopRoundsOpt = 4,
    model: LoopModelOpt = None,
    engine: Annotated[str, typer.Option(help="The policy's engine: transformers or vllm.")] = None,
    recipe: Annotated[str, typer.Option(help="SFT recipe (file or bundled name); default thought-ranking-sft.")] = None,
    limit: LoopLimitOpt = None,
    col: LoopColOpt = None,
    variants: Annotated[str, typer.Option(help="The forced thought characters (card: a-zA-Z0-9, 62).")] = None,
    max_thought_tokens: Annotated[int, typer.Option(help="Thought budget (card: 128).")] = None,
    max_answer_tokens: Annotated[int, typer.Option(help="Answer budget (card: 2048).")] = None,
    thought_prefix: Annotated[str, typer.Option(help=THOUGHT_PREFIX_HELP)] = None,
    judge_model: Annotated[
        str, typer.Option(help="The rank judge's model: `default`, a folder, a hub id or a served model's name.")
    ] = None,
    judge_engine: Annotated[
        str, typer.Option(help="The rank judge's engine: transformers, vllm or openai (an external judge).")
    ] = None,
    judge_base_url: BaseUrlOpt = None,
    judge_api_key_env: ApiKeyEnvOpt = None,
    judge_max_tokens: Annotated[int, typer.Option(help="Tokens per judge reply (64).")] = None,
    rank_chunk: Annotated[int, typer.Option(help="Answers per ranking request (8).")] = None,
    max_steps: LoopMaxStepsOpt = None,
    learning_rate: LoopLearningRateOpt = None,
    batch_size: LoopBatchSizeOpt = None,
    max_length: LoopMaxLengthOpt = None,
    threads: LoopThreadsOpt = None,
    eval: LoopEvalOpt = None,
    eval_subsets: LoopEvalSubsetsOpt = None,
    eval_limit: LoopEvalLimitOpt = None,
    keep: LoopKeepOpt = None,
    stop_when_worse: LoopStopWhenWorseOpt = False,
    config: LoopConfigOpt = None,
) -> None:
    """Thought-Ranked card rounds: thought variants, a judge ranks their answers blind to the thoughts, SFT on the
    best thought + answer per question, repeat on the new model.

    Example: harness loop thought-ranking --input questions.jsonl --rounds 4 --output runs/tr-loop
    """
    from harness.config import ThoughtRankingConfig, load_config
    from harness.stages.loop_thought_ranking import run_thought_ranking_loop

    given = locals()
    task_options = {
        "variants": variants,
        "max_thought_tokens": max_thought_tokens,
        "max_answer_tokens": max_answer_tokens,
        "prefix": thought_prefix,
    }
    judge = {
        "model": judge_model,
        "engine": judge_engine,
        "max_tokens": judge_max_tokens,
        "rank_chunk": rank_chunk,
        "openai": {"base_url": judge_base_url, "api_key_env": judge_api_key_env},
    }
    with _clean_errors():
        tr = {"engine": engine, "task_options": task_options, "judge": judge}  # None in them: not given
        cfg = load_config(config, {**_loop_overrides(given), **tr}, ThoughtRankingConfig)
        summary = run_thought_ranking_loop(cfg, console)
    counts = {"variants": "rows", "valid": "valid", "ranked": "ranked", "sft rows": "selected"}
    _print_loop_summary(summary, "loop thought-ranking summary", counts)


@app.command()
def report(
    dirs: Annotated[list[Path], typer.Argument(help="Artifact folders (synth, eval, judge, pairs), any mix.")],
    output: Annotated[
        str, typer.Option("--output", "-o", help="Report folder: report.md, report.html, plots/.")
    ] = "runs/report",
) -> None:
    """Write a Markdown report and a self-contained HTML page with plots from any set of artifacts.

    Example: harness report runs/demo runs/mmlu --output runs/report
    """
    from harness.stages.report import run_report

    with _clean_errors():
        run = run_report([str(d) for d in dirs], output, console)
    absent = f"; no data for: {', '.join(run.absent)}" if run.absent else ""
    console.print(f"{run.rows} rows read in {run.seconds:.1f}s. Sections: {', '.join(run.shown)}{absent}.")
    _done(f"Markdown: {run.markdown}; HTML: {run.html}", run.output)


@app.command()
def push(
    dir: Annotated[Path, typer.Argument(help="The artifact folder, or a `harness train` model folder, to push.")],
    repo_id: Annotated[
        str, typer.Option("--repo-id", help="The Hub repo, OWNER/NAME (created if missing): a dataset, or a model.")
    ],
    private: Annotated[
        bool, typer.Option("--private", help="Create the repo private (an existing public repo is made private).")
    ] = False,
    revision: Annotated[str, typer.Option(help="Branch to commit to (created if missing; default main).")] = None,
    to_dir: Annotated[
        str, typer.Option("--to-dir", help="Write exactly what would be pushed into this folder; upload nothing.")
    ] = None,
    message: Annotated[str, typer.Option(help="Commit message (default: rows, kind and name of the artifact).")] = None,
    license: Annotated[str, typer.Option(help="License id for the card's metadata, e.g. apache-2.0.")] = "unknown",
    allow_unchecked: AllowUncheckedOpt = False,
) -> None:
    """Push an artifact to the Hugging Face Hub as a dataset: Parquet in the Hub's layout and a dataset card.
    Push a model folder (`harness train`'s output) as a model repo, with a model card.

    The token comes from HF_TOKEN or `hf auth login` and is never written anywhere.
    Example: harness push runs/demo --repo-id me/backfill-demo --private
    """
    from harness.stages.push import run_push
    from harness.stages.push_model import is_model_folder

    if is_model_folder(dir):  # a `harness train` model folder: a model repo with a model card
        _push_model(dir, repo_id, to_dir, private, revision, message, license)
        return
    with _clean_errors():
        run = run_push(
            str(dir), repo_id, to_dir=to_dir, private=private, revision=revision, message=message, license=license,
            console=console, allow_unchecked=allow_unchecked,
        )  # fmt: skip
    files = f"{run.files.rows} rows in {len(run.files.names)} data file(s) + README.md"
    if run.pushed is None:
        _done(f"{files} written to {run.folder} (nothing uploaded).", run.folder)
        return
    pushed = run.pushed
    stale = f"; {len(pushed.deleted)} stale data file(s) removed" if pushed.deleted else ""
    created = " (repo created)" if pushed.created else ""
    _done(f"{files} pushed to {pushed.repo_url}{created}, {pushed.revision}{stale}.", pushed.commit_url)


def _push_model(dir: Path, repo_id: str, to_dir, private: bool, revision, message, license: str) -> None:
    from harness.stages.push import REPO_ID
    from harness.stages.push_model import run_push_model

    with _clean_errors():
        if not REPO_ID.match(repo_id):
            from harness.config import ConfigError

            raise ConfigError(f"--repo-id {repo_id!r}: expected OWNER/NAME, e.g. my-user/smollm2-backfill")
        run = run_push_model(
            str(dir), repo_id, to_dir=to_dir, private=private, revision=revision, message=message, license=license,
            console=console,
        )  # fmt: skip
    files = f"{len(run.files)} files ({run.bytes} bytes) with a model card"
    if run.pushed is None:
        _done(f"{files} written to {run.folder} (nothing uploaded).", run.folder)
        return
    created = " (repo created)" if run.pushed.created else ""
    _done(f"{files} pushed to {run.pushed.repo_url}{created}.", run.pushed.commit_url)


@app.command()
def judge(
    input: Annotated[str, typer.Option("--input", "-i", help="A harness artifact folder (synth's --output).")] = None,
    output: Annotated[
        str, typer.Option("--output", "-o", help="Judged artifact folder (created; a rerun resumes it).")
    ] = None,
    judge: Annotated[
        list[str],
        typer.Option(
            "--judge",
            "-j",
            help="Judges, comma-separated or repeated: mc, math, exact, regex, reasoning-gym, format (verifiers); "
            "score, pairwise, rank (LLM judges); usefulness (how much the trace helps a model predict the solution, "
            "on its own).",
        ),
    ] = None,
    col: Annotated[
        list[str],
        typer.Option(
            "--col",
            metavar="LOGICAL=COLUMN",
            help="Read the judges' LOGICAL column (prediction, gold, choices, question, response, generator, seed, "
            "index, config, pattern) from COLUMN, or from the synth input with source:COLUMN (repeatable).",
        ),
    ] = None,
    source: Annotated[
        str, typer.Option(help="The synth run's input, for columns the artifact did not keep (default: as recorded).")
    ] = None,
    regex: Annotated[str, typer.Option(help="regex judge: the pattern; its first group is the answer.")] = None,
    model: Annotated[str, typer.Option(help="LLM judges: `default`, a local folder or a hub id.")] = None,
    engine: Annotated[str, typer.Option(help="LLM judges: transformers, vllm or openai (a server's judge).")] = None,
    max_tokens: Annotated[int, typer.Option(help="LLM judges: token budget per reply (64).")] = None,
    rank_chunk: Annotated[int, typer.Option(help="rank: answers per ranking request (8).")] = None,
    score_low: Annotated[int, typer.Option(help="score: the rubric's lowest score (1).")] = None,
    score_high: Annotated[int, typer.Option(help="score: the rubric's highest score (10).")] = None,
    batch_size: Annotated[
        int, typer.Option(help="Questions per committed shard (4 with LLM judges, else 256).")
    ] = None,
    limit: Annotated[int, typer.Option(help="Only the first N questions.")] = None,
    threads: Annotated[int, typer.Option(help="CPU threads for the engine.")] = None,
    config: Annotated[
        Path,
        typer.Option(help="YAML config; flags override it. Its `vllm:`/`openai:` sections take every engine setting."),
    ] = None,
    no_cache: NoCacheOpt = False,
    base_url: BaseUrlOpt = None,
    api_key_env: ApiKeyEnvOpt = None,
    concurrency: ConcurrencyOpt = None,
    timeout: TimeoutOpt = None,
    max_retries: MaxRetriesOpt = None,
    max_model_len: MaxModelLenOpt = None,
    gpu_memory_utilization: GpuMemoryUtilizationOpt = None,
    kv_cache_memory: KvCacheMemoryOpt = None,
    ray: RayOpt = None,
    replicas: ReplicasOpt = None,
    gpus_per_replica: GpusPerReplicaOpt = None,
) -> None:
    """Judge every row of an artifact: verifiers and LLM judges add judge_<NAME>_score/_reason columns.

    Example: harness judge --input runs/star --judge exact,math,reasoning-gym --output runs/star-judged
    """
    from harness.config import JudgeConfig, load_config, parse_column_flags
    from harness.stages.judge import run_judge
    from judges.calibration import describe as describe_judge

    with _clean_errors():
        cfg = load_config(
            config,
            {
                "input": input,
                "output": output,
                "judges": judge,
                "columns": parse_column_flags(col or []) or None,
                "source": source,
                "regex": regex,
                "model": model,
                "engine": engine,
                "max_tokens": max_tokens,
                "rank_chunk": rank_chunk,
                "score_low": score_low,
                "score_high": score_high,
                "batch_size": batch_size,
                "limit": limit,
                "threads": threads,
                "cache": False if no_cache else None,
                "base_url": base_url,
                "api_key_env": api_key_env,
                "concurrency": concurrency,
                "timeout": timeout,
                "max_retries": max_retries,
                "max_model_len": max_model_len,
                "gpu_memory_utilization": gpu_memory_utilization,
                "kv_cache_memory_bytes": kv_cache_memory,
                "ray": _ray_section(ray, replicas, gpus_per_replica),
            },
            JudgeConfig,
        )
        summary = run_judge(cfg, console)
    table = Table(title="judge summary", show_header=False)
    done = f"{summary.rows} rows of {summary.questions} questions"
    if summary.rows_skipped:
        done += f"; {summary.rows_skipped} rows were already judged"
    table.add_row("this run", done)
    if summary.failed_questions:
        table.add_row("failed", f"{summary.failed_questions} questions (engine errors): a rerun judges them again")
    if summary.requests:
        table.add_row(
            "judge requests",
            f"{summary.requests} ({summary.cache_hits} from cache), {summary.generated_tokens} tokens "
            f"in {summary.seconds:.1f}s",
        )
    for name, s in summary.judges.items():
        table.add_row(f"{name} ({s['kind']})", describe_judge(s))
    table.add_row("artifact", f"{summary.output}/*.parquet; calibration: {summary.summary_file}")
    console.print(table)
    typer.echo(summary.output)  # stdout carries only the artifact path, for scripts


@app.command("select")
def select(
    mode: Annotated[str, typer.Argument(help="best-of-n (SFT rows) or pairs (prompt/chosen/rejected rows).")],
    input: Annotated[
        str, typer.Option("--input", "-i", help="A judged artifact folder (harness judge's --output).")
    ] = None,
    output: Annotated[str, typer.Option("--output", "-o", help="Selection artifact folder.")] = None,
    judge: Annotated[
        str, typer.Option("--judge", "-j", help="The judge whose score decides (default: the only one).")
    ] = None,
    threshold: Annotated[
        float, typer.Option(help="pairs: a score >= threshold is correct, below it incorrect (1.0).")
    ] = None,
    min_score: Annotated[float, typer.Option(help="best-of-n: skip questions whose best score is lower.")] = None,
    include_invalid: Annotated[
        bool, typer.Option("--include-invalid", help="Also select rows that failed synth's own verdicts.")
    ] = False,
    conversational: Annotated[
        bool,
        typer.Option(
            "--conversational", help="pairs: prompt as chat messages, chosen/rejected as assistant messages (TRL)."
        ),
    ] = False,
    config: ConfigOpt = None,
) -> None:
    """Training rows from a judged artifact: the best answer per question, or (correct, incorrect) pairs.

    Example: harness select best-of-n --input runs/variants-judged --judge rank --output runs/sft
    """
    from harness.config import SelectConfig, load_config
    from harness.stages.select import run_select

    with _clean_errors():
        cfg = load_config(
            config,
            {
                "mode": mode,
                "input": input,
                "output": output,
                "judge": judge,
                "threshold": threshold,
                "min_score": min_score,
                "include_invalid": include_invalid or None,
                "conversational": conversational or None,
            },
            SelectConfig,
        )
        summary = run_select(cfg, console)
    _done(
        f"{summary.rows} {cfg.mode} rows from {summary.questions} questions "
        f"({summary.without_row} gave none) by judge_{summary.judge}_score -> {summary.output}",
        summary.output,
    )


@app.command()
def decontam(
    input: Annotated[str, typer.Option("--input", "-i", help="A harness artifact folder.")] = None,
    output: ArtifactOutputOpt = None,
    against: Annotated[
        list[str],
        typer.Option(
            help="Eval sets, comma-separated or repeated: mmlu (bundled), FILE[:COLUMN] (Parquet/JSONL/CSV), "
            "lm-eval:TASK (a task with local data). Default mmlu."
        ),
    ] = None,
    subsets: Annotated[str, typer.Option(help="mmlu: subjects or groups, as eval mmlu --subsets (all).")] = None,
    columns: Annotated[
        str, typer.Option(help="Comma-separated columns to check (default: every text and messages column).")
    ] = None,
    ngram: Annotated[int, typer.Option(help="Words per n-gram (13, as GPT-3 and lm-eval).")] = None,
    drop: Annotated[bool, typer.Option("--drop", help="Leave contaminated rows out instead of marking them.")] = False,
    batch_size: Annotated[int, typer.Option(help="Rows per committed shard (65536).")] = None,
    config: ConfigOpt = None,
) -> None:
    """Mark rows that share a word n-gram with an eval set (decontam_clean, the matched item and n-gram).

    `harness train` and `harness push` refuse input that never went through decontam (unless --allow-unchecked)
    and leave its contaminated rows out.
    Example: harness decontam --input runs/sft --against mmlu --output runs/sft-clean
    """
    from harness.config import DecontamConfig, load_config
    from harness.stages.decontam import run_decontam

    with _clean_errors():
        given = {"input": input, "output": output, "against": against, "subsets": subsets, "columns": columns}
        given |= {"ngram": ngram, "drop": drop or None, "batch_size": batch_size}
        cfg = load_config(config, given, DecontamConfig)
        summary = run_decontam(cfg, console)
    sets = ", ".join(f"{s['name']} ({s['items']} items)" for s in summary.against)
    left = f", {summary.dropped} dropped" if cfg.drop else ""
    skipped = f"; {summary.skipped} rows were checked by an earlier run" if summary.skipped else ""
    _done(
        f"{summary.contaminated} of {summary.rows} rows share a {cfg.ngram}-gram with {sets}{left} "
        f"({summary.ngrams} eval n-grams, {summary.seconds:.1f}s){skipped} -> {summary.output}",
        summary.output,
    )


@app.command()
def lineage(
    path: Annotated[Path, typer.Argument(help="An artifact folder, or a model folder `harness train` wrote.")],
    record: Annotated[str, typer.Option(help="The record_id of the row to trace back to its source row.")] = None,
    sample: Annotated[int, typer.Option(help="Only the row with this sample_idx (default: every row of it).")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON for tools instead of text.")] = False,
) -> None:
    """Trace a row back to its source row, hop by hop, or show what trained a model.

    Example: harness lineage runs/sft --record 3f2a... ; harness lineage runs/model
    """
    import json

    from harness.stages.lineage import is_model_dir, model_lineage, row_lineage
    from reports.lineage_text import hop_lines, model_lines

    with _clean_errors():
        if record is None and not is_model_dir(path):
            raise typer.BadParameter("give --record ID for an artifact folder (or a model folder)")
        made = model_lineage(path) if is_model_dir(path) else None
        chains = row_lineage(path, record, sample) if record is not None else []
    if json_out:
        result = {"model": made.to_dict() if made else None, "chains": [c.to_dict() for c in chains]}
        typer.echo(json.dumps(result, indent=2, default=str, ensure_ascii=False))
        return
    lines = model_lines(made) if made else []
    for chain in chains:
        lines += hop_lines(chain)
    typer.echo("\n".join(lines))


class _clean_errors:
    """Known error types become one red line and exit code 2, not a traceback."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind, err, tb) -> bool:
        import sqlite3

        from harness.artifacts.sources import InputError
        from harness.artifacts.writer import ArtifactError
        from harness.config import ConfigError
        from harness.engines.base import EngineError, UnsupportedParameter
        from harness.engines.models import ModelNotFound
        from harness.hub import HubError

        if err is not None and isinstance(
            err,
            InputError | ConfigError | ArtifactError | ModelNotFound | EngineError | UnsupportedParameter | HubError,
        ):
            from harness.scale import distributed

            if distributed.is_main():  # across processes, every one stops with the same error: say it once
                console.print(f"[red]error:[/red] {escape(str(err))}", highlight=False, soft_wrap=True)
            raise typer.Exit(2)
        if isinstance(err, OSError) and err.errno in ENVIRONMENT_ERRNOS:
            where = f"{err.filename}: " if err.filename else ""
            hint = "; free some space and run the same command again: it resumes" if err.errno in FULL else ""
            console.print(
                f"[red]error:[/red] {escape(where + (err.strerror or str(err)))}{hint}", highlight=False, soft_wrap=True
            )
            raise typer.Exit(2)
        if isinstance(err, sqlite3.OperationalError) and "disk" in str(err):  # the generation cache's disk is full
            from harness.engines.cache import cache_dir

            console.print(f"[red]error:[/red] generation cache in {cache_dir()}: {err}", soft_wrap=True)
            raise typer.Exit(2)
        return False


# OS errors that describe the machine (no space, no permission, a file where a folder belongs), not a bug.
FULL = {errno.ENOSPC, errno.EDQUOT}
ENVIRONMENT_ERRNOS = FULL | {errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOTDIR, errno.EISDIR, errno.ENAMETOOLONG}


if __name__ == "__main__":  # engines that spawn workers (vLLM) need this guard
    app()
