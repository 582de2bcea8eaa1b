"""`harness train METHOD`: an artifact in, a model folder out that `harness synth` and `harness eval` load.

The model is trained in a hidden `.NAME.partial` folder beside the output (with checkpoints when `save_steps`
is set, so a killed run resumes from the last one) and renamed into place only when it is saved whole. The
output folder holds the model and tokenizer (save_pretrained), `training_log.jsonl` (every logged step) and
`harness-train.json` (provenance: base model, input hashes, resolved config, library versions, results).
Running the same command again on a finished output does nothing.

Under `accelerate launch` (or `harness train --num-processes N`) every process runs this same code: the main
process alone claims and writes the output folder, the log and the provenance; each process trains on its share
of the one memory-mapped dataset (built once per node, `shared_training_rows`).
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console

from harness.artifacts.writer import ArtifactError, base_provenance, write_atomic
from harness.config import ConfigError, TrainConfig
from harness.engines.cache import LockedError, file_lock
from harness.engines.models import resolve_model
from harness.evalsets.gate import decontam_status, require_checked
from harness.scale import distributed
from harness.scale.cpu_threads import default_threads
from harness.stages.train_log import make_log_callback, read_log
from harness.stages.train_rows import TrainingRows, shared_training_rows

PROVENANCE_FILE = "harness-train.json"
LOG_FILE = "training_log.jsonl"


@dataclass
class TrainSummary:
    output: str
    method: str
    rows: int  # training rows used
    skipped_invalid: int
    skipped_by_task: int
    steps: int
    first_loss: float | None
    last_loss: float | None
    seconds: float
    seconds_per_step: float
    already_done: bool = False


def run_train(
    cfg: TrainConfig,
    console: Console | None = None,
    recipe: str | None = None,
    allow_unchecked: bool | None = None,
    processes: int | None = None,
    accelerate_config: str | None = None,
    rerun: str | None = None,
) -> TrainSummary:
    """Train `cfg` (`recipe`: the recipe's name, for the provenance). `allow_unchecked` is the command's gate
    (`harness train` and a pipeline's train stage): False refuses input that `harness decontam` never checked
    against MMLU, True takes it and says so; None skips the gate (a loop trains on rows it generated itself).
    `processes` > 1: train in that many processes (accelerate launch, `accelerate_config` its config file).
    `rerun`: the command again with its input written DIR, which the gate's refusal advises after decontam."""
    console = console or Console(stderr=True)
    if not distributed.is_main():
        console = Console(stderr=True, quiet=True)  # one process speaks for all of them
    if allow_unchecked is not None:
        recipe_flag = ["--recipe", recipe] if recipe else []
        again = ["harness", "train", cfg.method, *recipe_flag, "--input", "DIR", "--output", cfg.output]
        status = require_checked(cfg.input, allow_unchecked, rerun or shlex.join(again))
        console.print(f"decontamination: {status.describe()}", highlight=False, soft_wrap=True)
    if (processes or 1) > 1 and not distributed.is_distributed():
        from harness.stages.train_launch import train_in_processes

        if not (Path(cfg.output) / PROVENANCE_FILE).is_file():  # a finished output is checked below, not relaunched
            train_in_processes(cfg, recipe, processes, accelerate_config)
            return replace(run_train(cfg, console, recipe), already_done=False)  # its result, from the provenance
    _check_chat_template(cfg)
    rewards = _rewards(cfg) if cfg.method == "grpo" else None
    if distributed.is_distributed():
        from trainers.common import resolve_device

        distributed.init(cpu=not resolve_device(cfg).startswith("cuda"))
    with shared_training_rows(cfg) as data:  # whole-input checks before any model loads; its scratch files go after
        summary = _run(cfg, data, console, recipe, rewards)
        distributed.barrier()  # every process is done reading the data before its builder removes it
    return summary


def _run(cfg: TrainConfig, data: TrainingRows, console: Console, recipe: str | None, rewards) -> TrainSummary:
    output = Path(cfg.output)
    # Once per node: the default model is converted into the node's cache once, a folder's weights hashed once.
    model = distributed.on_local_main(lambda: resolve_model(cfg.model))
    identity = {
        "method": cfg.method,
        "model": model.fingerprint,
        "input": data.fingerprint,
        "config": cfg.model_dump(exclude={"output", "threads", "report_to"}),  # what does not change the model
    }
    if (output / PROVENANCE_FILE).is_file():
        return _finished(output, identity)
    if output.exists() and any(output.iterdir()):
        raise ArtifactError(f"{output} exists and is not a `harness train` output; use another --output")
    partial = output.with_name(f".{output.name}.partial")
    try:
        with ExitStack() as claim:
            distributed.on_main(lambda: _claim(partial, identity, claim))
            started = base_provenance()
            summary = _train(cfg, model.path, data, partial, console, rewards)
            if not distributed.is_main():
                return summary
            provenance = {
                **started,
                "identity": identity,  # what a rerun must match to count as the same run
                "method": cfg.method,
                "model": model.to_dict(),
                "input": {"label": data.label, **data.fingerprint},
                "recipe": recipe,
                "optimizer": _optimizer(cfg),
                "rows": {
                    "used": summary.rows,
                    "skipped_invalid": data.skipped_invalid,
                    "skipped_by_task": data.skipped_by_task,
                    "skipped_contaminated": data.skipped_contaminated,
                },
                "decontam": decontam_status(cfg.input).to_dict(),
                "versions": _versions(),
                "processes": distributed.world_size(),  # rows per step: batch_size x accumulation x processes
                "result": {k: v for k, v in asdict(summary).items() if k not in ("output", "already_done")},
                "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
            }
            _publish(partial, output, provenance)
    except LockedError as err:
        raise ArtifactError(f"another harness process is training into {output}; wait for it or stop it") from err
    partial.with_name(partial.name + ".lock").unlink(missing_ok=True)
    summary.output = str(output)
    return summary


def _optimizer(cfg: TrainConfig) -> dict[str, str]:
    from trainers.common import resolve_optim

    used, why = resolve_optim(cfg)
    if used is None:  # TrainingArguments' own default (fused AdamW on torch >= 2.8): name it in the provenance
        from transformers import TrainingArguments

        used = str(TrainingArguments.__dataclass_fields__["optim"].default)
    return {"requested": cfg.optim, "used": used, "why": why}


def _claim(partial: Path, identity: dict[str, Any], stack: ExitStack) -> None:
    """The work folder, locked for this run (held until `stack` closes) and checked against an interrupted one."""
    partial.mkdir(parents=True, exist_ok=True)
    stack.enter_context(file_lock(partial.with_name(partial.name + ".lock"), blocking=False))
    _check_partial(partial, identity)


def _publish(partial: Path, output: Path, provenance: dict[str, Any]) -> None:
    """Provenance last, then the work folder becomes the output in one rename: a reader never sees half a model."""
    write_atomic(partial / PROVENANCE_FILE, json.dumps(provenance, indent=2, default=str))
    (partial / "run.json").unlink()
    shutil.rmtree(partial / "checkpoints", ignore_errors=True)
    if output.exists():
        output.rmdir()  # empty: run_train refuses a folder with anything in it
    os.replace(partial, output)


def last_complete_checkpoint(checkpoints: Path) -> str | None:
    """The newest checkpoint that was saved whole, or None. The Trainer writes `trainer_state.json` last, so a
    checkpoint without a readable one was cut short by a kill: it is deleted (resuming from it fails with
    "Can't find a valid checkpoint") and the one before it is used."""
    found = [p for p in checkpoints.glob("checkpoint-*") if p.is_dir() and p.name.split("-")[-1].isdigit()]
    for checkpoint in sorted(found, key=lambda p: int(p.name.split("-")[-1]), reverse=True):
        try:
            json.loads((checkpoint / "trainer_state.json").read_text())
            return str(checkpoint)
        except (OSError, ValueError):
            shutil.rmtree(checkpoint)
    return None


def _train(
    cfg: TrainConfig, model_path: str, data: TrainingRows, folder: Path, console: Console, rewards
) -> TrainSummary:
    import datasets
    import torch
    from transformers import PrinterCallback
    from transformers.utils import logging as hf_logging

    from trainers import get_builder
    from trainers.common import load_model_and_tokenizer

    torch.set_num_threads(
        cfg.threads or default_threads()
    )  # default: the cores idle now (harness/scale/cpu_threads.py)
    hf_logging.disable_progress_bar()  # our log callback reports progress, one line per logged step
    datasets.disable_progress_bars()
    dataset = data.dataset
    console.print(
        f"[train {cfg.method}] {data.used} rows ready; loading {cfg.model} ...", highlight=False, markup=False
    )
    model, tokenizer = load_model_and_tokenizer(model_path, cfg)
    rows_per_step = cfg.batch_size * cfg.gradient_accumulation_steps * distributed.world_size()
    log = make_log_callback(folder / LOG_FILE, f"train {cfg.method}", rows_per_step, console)
    checkpoints = folder / "checkpoints"
    extra = {"rewards": rewards} if rewards is not None else {}
    try:
        trainer = get_builder(cfg.method)(model, tokenizer, dataset, cfg, checkpoints, [log], **extra)
    except ValueError as err:  # TRL and our adapters check the settings against the data
        raise ConfigError(f"train {cfg.method}: {err}") from err
    trainer.remove_callback(PrinterCallback)  # it would print every log dict a second time
    resume = last_complete_checkpoint(checkpoints)
    if resume:
        console.print(f"resuming from {resume}", highlight=False)
    result = trainer.train(resume_from_checkpoint=resume)
    trainer.save_model(str(folder))  # model (or adapter), tokenizer (its chat template, added tokens), config
    if cfg.peft is not None and distributed.is_main():
        from trainers.lora import save_lora

        save_lora(trainer.model, tokenizer, folder, cfg.peft.merge)
    losses = [e["loss"] for e in read_log(folder / LOG_FILE) if "loss" in e]
    steps = trainer.state.global_step
    seconds = float(result.metrics.get("train_runtime", 0.0))
    return TrainSummary(
        output=str(folder),
        method=cfg.method,
        rows=len(dataset),
        skipped_invalid=data.skipped_invalid,
        skipped_by_task=data.skipped_by_task,
        steps=steps,
        first_loss=losses[0] if losses else None,
        last_loss=losses[-1] if losses else None,
        seconds=seconds,
        seconds_per_step=seconds / steps if steps else 0.0,
    )


def _check_chat_template(cfg: TrainConfig) -> None:
    from trainers.chat_template import load_chat_template

    if cfg.chat_template is not None:
        try:
            load_chat_template(cfg.chat_template)
        except (ValueError, OSError, UnicodeDecodeError) as err:
            raise ConfigError(str(err)) from err


def _rewards(cfg: TrainConfig) -> list:
    from harness.stages.train_rewards import resolve_rewards
    from tasks import get_task

    try:
        task = get_task(cfg.task, **cfg.task_options) if cfg.task else None
    except ValueError as err:
        raise ConfigError(str(err)) from err
    return resolve_rewards(list(cfg.rewards), task)


def _check_partial(partial: Path, identity: dict[str, Any]) -> None:
    """An interrupted run resumes only with the very same settings, base model and input."""
    run_file = partial / "run.json"
    now = json.loads(json.dumps(identity, default=str))
    if run_file.is_file() and json.loads(run_file.read_text()) != now:
        raise ArtifactError(
            f"{partial} holds an interrupted run with other settings; delete it to start over, or rerun as before"
        )
    write_atomic(run_file, json.dumps(now, indent=2, sort_keys=True))


def _finished(output: Path, identity: dict[str, Any]) -> TrainSummary:
    done = json.loads((output / PROVENANCE_FILE).read_text())
    now = json.loads(json.dumps(identity, default=str))
    changed = sorted(k for k in now if done.get("identity", {}).get(k) != now[k])
    if changed:
        raise ArtifactError(
            f"{output} holds a model trained with other {', '.join(changed)}; use another --output, or delete it"
        )
    result = done["result"]
    return TrainSummary(output=str(output), already_done=True, **result)


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for package in ("torch", "transformers", "trl", "accelerate", "datasets"):
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            continue
    return found


def find_recipe(spec: str) -> Path:
    """A recipe file, or the name of a bundled one (`harness train --recipe backfill-sft`)."""
    from importlib.resources import files

    path = Path(spec).expanduser()
    if path.is_file():
        return path
    bundled = Path(str(files("trainers") / "recipes" / f"{spec}.yaml"))
    if bundled.is_file():
        return bundled
    names = sorted(p.stem for p in bundled.parent.glob("*.yaml"))
    raise ConfigError(f"recipe {spec!r}: no such file, and not a bundled recipe ({', '.join(names)})")


def load_train_config(
    method: str, recipe: str | None, overrides: dict[str, Any], rerun: Callable[[str], str] | None = None
) -> TrainConfig:
    """The recipe (YAML), then the flags; a recipe written for another method is refused, advising
    `rerun(declared method)` (the CLI: the command as typed, with that method), else the `method:` to set."""
    import yaml

    from harness.config import load_config

    path = find_recipe(recipe) if recipe else None
    if path is not None:
        try:
            declared = (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("method", method)
        except (OSError, UnicodeDecodeError, yaml.YAMLError, AttributeError):
            declared = method  # an unreadable recipe: load_config says what is wrong with it
        if declared != method:
            how = f"run it with `{rerun(declared)}`" if rerun else f"set `method: {declared}` to run it"
            raise ConfigError(f"{path} is a {declared} recipe; {how}")
    return load_config(path, {**overrides, "method": method}, TrainConfig)
