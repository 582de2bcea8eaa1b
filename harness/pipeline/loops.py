"""`harness loop star|thought-ranking`: the shipped `memphis` and `thought-ranking` pipelines, run with the loop's
flags. One round machinery serves both commands and `harness run`: the rounds, their resume, measuring, `keep` and
`stop_when_worse` are the pipeline runner's (runner.py, rounds.py); this module only turns a loop's config into
the pipeline's size values and per-stage settings.

- `loop star` runs memphis.yaml: the initial SFT when `--sft-input` is given (its rows made first, below), then per
  round: generate (synth star, its pairs) -> decontam (the pairs against MMLU) -> train (rank or dpo) [-> eval].
- `loop thought-ranking` runs thought-ranking.yaml: generate (thought variants) -> verify (the rank judge, its own
  model and engine) -> select (best-of-n) -> decontam -> train (sft) [-> eval].
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rich.console import Console

from harness.artifacts.sources import InputError, open_source
from harness.artifacts.writer import write_atomic
from harness.config import ConfigError, JudgeConfig, LoopConfig, LoopSettings, ThoughtRankingConfig
from harness.cost import PRICE_KEYS
from harness.engines import ENGINES
from harness.engines.models import ModelNotFound
from harness.engines.session import EngineSession
from harness.pipeline.runner import PipelineRun, run_pipeline
from harness.pipeline.shipped import find_pipeline
from tasks.star_sft import examples_from_row

DEFAULT_RECIPES = {"rank": "memphis-rank", "dpo": "star-dpo"}
SFT_DATA = "sft-data.jsonl"  # `--sft-input` as prompt/completion rows, in the loop's folder


def run_star_loop(cfg: LoopConfig, console: Console) -> PipelineRun:
    sft_data = None
    if cfg.sft_input is not None:  # the card's first phase: round 1 starts from its model
        sft_data = str(Path(cfg.output) / SFT_DATA)
        count = write_examples(str(cfg.sft_input), Path(sft_data))
        console.print(f"initial SFT: {count} prompt/completion rows from {cfg.sft_input}", highlight=False)
    sampling = cfg.sampling.model_dump(exclude_none=True)
    values = {
        **_measuring(cfg),
        "base": cfg.model, "sft_data": sft_data, "questions": cfg.input, "task_options": cfg.task_options,
        "limit": cfg.limit, "samples": sampling.pop("n", None), "max_tokens": sampling.pop("max_tokens", None),
    }  # fmt: skip
    recipe = cfg.recipe or DEFAULT_RECIPES[cfg.method]
    extra = {
        "generate": {**_generation(cfg), "sampling": sampling},
        "train": {**_training(cfg), "method": cfg.method, "recipe": recipe},
        "sft": {**_training(cfg), "recipe": cfg.sft_recipe or "memphis-sft"},
        **_evals(cfg),
    }
    return _run("memphis", cfg, values, extra, console)


def run_thought_ranking_loop(cfg: ThoughtRankingConfig, console: Console) -> PipelineRun:
    _check_judge(cfg)
    judge = cfg.judge.model_dump()
    values = {
        **_measuring(cfg),
        "model": cfg.model, "questions": cfg.input, "columns": cfg.columns, "limit": cfg.limit,
        "judge_model": judge["model"], "judge_engine": judge["engine"], "include_invalid": False,
    }  # fmt: skip
    extra = {
        "generate": {**_generation(cfg), "task_options": cfg.task_options},  # unset options: the task's (card's)
        "verify": {**judge, "threads": cfg.threads, "ray": cfg.ray},  # the judge's replicas on the loop's cluster
        "train": {**_training(cfg), "recipe": cfg.recipe or "thought-ranking-sft"},
        **_evals(cfg),
    }
    return _run("thought-ranking", cfg, values, extra, console)


def write_examples(spec: str, target: Path) -> int:
    """Every input row's examples (tasks/star_sft.py: the card's two formats) as JSONL, written atomically and
    only when they changed (the SFT stage's fingerprint reads the file); a bad row is named with its reason."""
    source = open_source(spec, {})
    lines = []
    for index, row in source.values():
        try:
            lines += [json.dumps(example, ensure_ascii=False) for example in examples_from_row(row)]
        except ValueError as err:
            raise InputError(f"{source.label}: row {index}: {err}") from err
    if not lines:
        raise InputError(f"{source.label}: no rows to train on")
    text = "\n".join(lines) + "\n"
    if not target.is_file() or target.read_text(encoding="utf-8") != text:
        target.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(target, text)
    return len(lines)


def _run(pipeline: str, cfg: LoopSettings, values: dict[str, Any], extra: dict, console: Console) -> PipelineRun:
    # The loop's flags decide every size value, so the size only fills what a loop has no flag for: the card's.
    values = {**values, "rounds": cfg.rounds, "steps": cfg.train.get("max_steps", -1)}
    return run_pipeline(find_pipeline(pipeline), Path(cfg.output), "full", values, console, extra)


def _measuring(cfg: LoopSettings) -> dict[str, Any]:
    return {"eval": cfg.eval is not None, "eval_subsets": cfg.eval_subsets, "eval_limit": cfg.eval_limit,
            "eval_seed": cfg.eval_seed, "keep": cfg.keep, "stop_when_worse": cfg.stop_when_worse}  # fmt: skip


def _generation(cfg: LoopSettings) -> dict[str, Any]:
    """Each round's synth: the loop's engine (vLLM loads each round's model folder), Ray replicas, columns."""
    settings: dict[str, Any] = {"engine": cfg.engine, "vllm": cfg.vllm.model_dump(exclude_defaults=True),
                                "ray": cfg.ray, "threads": cfg.threads, "columns": cfg.columns,
                                **{key: getattr(cfg, key) for key in PRICE_KEYS}}  # fmt: skip
    if cfg.synth_batch_size:
        settings["batch_size"] = cfg.synth_batch_size
    return settings


def _training(cfg: LoopSettings) -> dict[str, Any]:
    scale = {"num_processes": cfg.num_processes, "accelerate_config": cfg.accelerate_config}
    return {**cfg.train, "threads": cfg.threads, **scale}


def _evals(cfg: LoopSettings) -> dict[str, dict[str, Any]]:
    return {name: {"threads": cfg.threads} for name in ("start-eval", "eval")}


def _check_judge(cfg: ThoughtRankingConfig) -> None:
    """The judge's settings, checked before round 1 samples anything (the judge stage would check them later)."""
    if cfg.judge.engine not in ENGINES:
        raise ConfigError(f"judge: unknown engine {cfg.judge.engine!r}; engines are: {', '.join(sorted(ENGINES))}")
    judge = JudgeConfig(input=cfg.input, output=cfg.output, judges=["rank"], **cfg.judge.model_dump())
    try:
        EngineSession(judge).check()
    except ModelNotFound as err:
        raise ConfigError(f"judge: {err} (the loop's flags: --judge-engine, --judge-base-url, --judge-model)") from err
