"""Advice that repeats the user's command: the command as typed (`harness/cli/options.py` spells the flags the
user gave), changed where the advice says, so that it runs as printed."""

from __future__ import annotations

import shlex

from harness.engines.base import DataParallelRefused

RAY_COMMANDS = ("synth", "judge")  # the commands that take --ray
SERVE_URL = "http://127.0.0.1:8000/v1"
# vllm flags of ours that `vllm serve` takes under the same name (with a value); the other vllm settings stay ours.
SERVE_FLAGS = (
    "--dtype", "--max-model-len", "--gpu-memory-utilization", "--tensor-parallel-size", "--pipeline-parallel-size",
    "--quantization",
)  # fmt: skip


def without(line: list[str], *flags: str) -> tuple[list[str], dict[str, str]]:
    """`line` without `flags` and their values, and the values it had for them (`--flag value` or `--flag=value`)."""
    kept: list[str] = []
    found: dict[str, str] = {}
    words = iter(line)
    for word in words:
        name, equals, value = word.partition("=")
        if name in flags:
            found[name] = value if equals else next(words, "")
        else:
            kept.append(word)
    return kept, found


def data_parallel(err: DataParallelRefused, line: list[str]) -> str:
    """The refusal of --data-parallel-size N, with the two ways that work: N engine replicas on Ray (synth and
    judge), or `vllm serve` with N ranks and the same command on --engine openai."""
    size = str(err.size)
    base, _ = without(line, "--data-parallel-size")
    ways = []
    if len(base) > 1 and base[1] in RAY_COMMANDS:
        ray, _ = without(base, "--ray", "--replicas")
        ways.append(
            f"run the engine as {size} replicas on Ray, one GPU each: `{shlex.join([*ray, '--ray', 'auto', '--replicas', size])}`"
        )
    remote, served = without(base, "--engine", "--model", "--base-url", *SERVE_FLAGS)
    serve = ["vllm", "serve", err.model_path, "--data-parallel-size", size, "--port", "8000"]
    serve += [word for flag, value in served.items() if flag in SERVE_FLAGS for word in (flag, value)]
    remote += ["--engine", "openai", "--base-url", SERVE_URL, "--model", err.model_path]
    ways.append(f"serve the model with `{shlex.join(serve)}` and then run `{shlex.join(remote)}`")
    return (
        f"--data-parallel-size {size}: vLLM's offline engine runs one data-parallel rank per process; "
        + ", or ".join(ways)
    )
