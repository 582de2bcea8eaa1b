"""Runs a pipeline's plan: each stage through its entry point (`run_stage`), the run's record kept in
OUTPUT/pipeline.json, then one table and one report over every stage's artifact.

A rerun skips each stage that is done under the same fingerprint (its files untouched) and lets the unfinished one
resume itself, as its command would. A stage whose settings or input files changed, and every stage after it,
runs again; the output it had is moved to OUTPUT/.replaced/ first (nothing is deleted) and the run says so.
A pipeline with rounds keeps their record in OUTPUT/loop.json (rounds.py); when the rounds stop early, the stages
after that point do not run and the closing report covers what ran.
"""

from __future__ import annotations

import fcntl
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from rich.console import Console
from rich.table import Table

from harness.artifacts.reader import open_artifact
from harness.artifacts.writer import ArtifactError
from harness.config import (
    DecontamConfig,
    EvalConfig,
    JudgeConfig,
    PushConfig,
    ReportConfig,
    RescoreConfig,
    SelectConfig,
    SynthConfig,
    load_config,
)
from harness.config.base import ConfigError
from harness.cost import BudgetReached, usd_text
from harness.pipeline.rounds import Rounds
from harness.pipeline.spec import PlannedStage, plan, read_pipeline
from harness.pipeline.state import PipelineState, StageRecord, fingerprint, read_state, write_state
from harness.stages.registry import run_stage

MODELS: dict[str, type[BaseModel]] = {
    "synth": SynthConfig, "judge": JudgeConfig, "rescore": RescoreConfig, "select": SelectConfig,
    "decontam": DecontamConfig, "eval mmlu": EvalConfig, "report": ReportConfig, "push": PushConfig,
}  # fmt: skip
ARTIFACT_COMMANDS = ("synth", "judge", "rescore", "select", "decontam", "eval mmlu")  # what the closing report reads
REPORT = "report"  # the closing report's stage name, OUTPUT/report
REPLACED = ".replaced"


@dataclass
class PipelineRun:
    output: Path
    stages: list[StageRecord]
    ran: list[str]  # stages this invocation ran (the others were done already)
    report: Path
    rounds: dict[str, Any] | None = None  # loop.json's record, for a pipeline with rounds
    stopped: str | None = None  # why the rounds ended early


def run_pipeline(
    path: Path, output: Path, size: str | None = None, overrides: dict[str, Any] | None = None,
    console: Console | None = None, extra: dict[str, dict[str, Any]] | None = None,
) -> PipelineRun:  # fmt: skip
    """Run the pipeline file `path` into `output` (`size`: one of its sizes; `overrides`: `${size.KEY}` values;
    `extra`: settings over the file's, by stage name)."""
    console = console or Console(stderr=True)
    spec = read_pipeline(path)
    output = Path(output)
    planned = plan(spec, output, size, overrides or {}, extra)
    stages = planned.stages
    rounds = Rounds(planned.rounds, list(stages)) if planned.rounds else None
    stages.append(_closing_report(stages, output, with_rounds=rounds is not None))
    configs = [_config(stage) for stage in stages]  # every stage's settings are checked before any runs
    if output.exists() and not output.is_dir():
        raise ArtifactError(f"{output}: exists and is not a folder; --output is the run's folder")
    output.mkdir(parents=True, exist_ok=True)
    name = path.stem
    with _only_run(output):
        state = read_state(output, name)
        state.stages = [_record_for(state, stage) for stage in stages]
        state.stopped = None
        write_state(output, state)
        ran: list[str] = []
        for number, (stage, (cfg, context)) in enumerate(zip(stages, configs, strict=True), start=1):
            record = state.stages[number - 1]
            heading = f"stage {number}/{len(stages)} {stage.name}"
            if state.stopped and stage.name != REPORT:
                continue
            if state.stopped:  # the report covers the stages that ran
                stage.settings["dirs"] = [d for d in stage.settings["dirs"] if Path(d).exists()]
                cfg, context = _config(stage)
            print_ = fingerprint(stage.command, stage.settings, own=stage.output)
            if not ran and record.status == "done" and record.fingerprint == print_ and stage.output.exists():
                console.print(f"[bold]{heading}[/]: done already, skipped", highlight=False)
                _after(rounds, stage, record, state, output, console)
                continue
            why = _set_aside(record, print_, stage, output, after_rerun=bool(ran))
            console.rule(f"{heading} ({stage.command})", align="left")
            if why:
                console.print(f"{stage.name}: {why}", highlight=False, soft_wrap=True)
            record.status, record.fingerprint = "running", print_
            write_state(output, state)
            started = time.monotonic()
            summary = run_stage(stage.command, cfg, console, **context)
            _measure(record, stage, summary, time.monotonic() - started)
            if (stop := getattr(summary, "budget_stop", None)) is not None:  # stays `running`: a rerun resumes it
                write_state(output, state)
                console.print(stage_table(state))
                again = f"raise or remove max_cost in stage {stage.name}'s settings, then run: harness run {path} --output {output}"
                raise BudgetReached(f"stage {stage.name}: {stop.message(again)}")
            record.status = "done"
            _after(rounds, stage, record, state, output, console)
            write_state(output, state)
            ran.append(stage.name)
    console.print(stage_table(state))
    links = rounds.record(output, name, state, state.stopped) if rounds else None
    return PipelineRun(output, state.stages, ran, output / REPORT / "report.html", links, state.stopped)


def _after(
    rounds: Rounds | None, stage: PlannedStage, record: StageRecord, state: PipelineState, output: Path,
    console: Console,
) -> None:  # fmt: skip
    """A finished round stage: whether the rounds stop here, and the rounds' record rewritten."""
    if rounds is None or stage.round is None:
        return
    state.stopped = rounds.stopping(stage, record, state)
    if state.stopped:
        console.print(f"[yellow]the rounds stop:[/yellow] {state.stopped}", highlight=False, soft_wrap=True)
    rounds.write(output, state.pipeline, state, state.stopped)


def stage_table(state: PipelineState) -> Table:
    """One line per stage: rows, valid share, tokens, seconds (of the run that finished it), and with a priced
    stage its cost and the run's total."""
    table = Table(title=f"pipeline {state.pipeline}")
    priced = [s.cost for s in state.stages if s.cost is not None]
    columns = ("stage", "command", "status", "rows", "valid", "tokens", "seconds", *(["cost"] if priced else []))
    for column in columns:
        table.add_column(column, justify="left" if column in ("stage", "command", "status") else "right")
    for s in state.stages:
        valid = f"{s.valid / s.rows:.0%}" if s.rows and s.valid is not None else "-"
        seconds = f"{s.seconds:.1f}" if s.seconds is not None else "-"
        cost = [usd_text(s.cost) if s.cost is not None else "-"] if priced else []
        table.add_row(s.name, s.command, s.status, _or_dash(s.rows), valid, _or_dash(s.tokens), seconds, *cost)
    if priced:
        table.add_row("all", "", "", "", "", "", "", usd_text(sum(priced)))
    return table


def _config(stage: PlannedStage) -> tuple[BaseModel, dict[str, Any]]:
    """The stage's typed config from its settings, and what its entry point takes besides (train's recipe)."""
    try:
        if stage.command == "train":
            from harness.stages.train import load_train_config

            settings = dict(stage.settings)
            method, recipe = settings.pop("method", None), settings.pop("recipe", None)
            allow_unchecked = bool(settings.pop("allow_unchecked", False))  # the command's gate, as its flag
            if method is None:
                raise ConfigError("method: missing; set `method:` (sft, grpo, rank or dpo)")
            scale = {"processes": settings.pop("num_processes", None),
                     "accelerate_config": settings.pop("accelerate_config", None)}  # fmt: skip
            context = {"recipe": recipe, "allow_unchecked": allow_unchecked, **scale}
            return load_train_config(method, recipe, settings), context
        return load_config(None, stage.settings, MODELS[stage.command]), {}
    except ConfigError as err:
        raise ConfigError(f"stage {stage.name}: {err}".replace(": flags: ", ": ")) from err


def _closing_report(stages: list[PlannedStage], output: Path, with_rounds: bool) -> PlannedStage:
    if any(s.name == REPORT for s in stages):
        raise ConfigError(f"a stage is named {REPORT!r}: that name is the run's closing report (OUTPUT/{REPORT})")
    dirs = [str(s.output) for s in stages if s.command in ARTIFACT_COMMANDS]
    dirs += [str(output)] if with_rounds else []  # its loop.json: the per-round table
    if not dirs:
        raise ConfigError("the pipeline writes no artifact to report on (synth, judge, select, decontam, eval)")
    return PlannedStage(REPORT, "report", {"dirs": dirs, "output": str(output / REPORT)}, output / REPORT)


def _record_for(state: PipelineState, stage: PlannedStage) -> StageRecord:
    """The stage's record from an earlier run (same name and command), else a new pending one."""
    old = state.record(stage.name)
    if old is not None and old.command == stage.command and old.output == str(stage.output):
        return old
    return StageRecord(stage.name, stage.command, str(stage.output))


def _set_aside(record: StageRecord, print_: str, stage: PlannedStage, output: Path, after_rerun: bool) -> str:
    """Why the stage runs, when it is not its first run; an output made under other settings or inputs is moved
    to OUTPUT/.replaced/ so the stage starts clean (a killed stage under the same fingerprint resumes instead)."""
    companions = _companions(stage)
    if not stage.output.exists() and not companions:
        return "" if record.status == "pending" else "its output is gone; running it anew"
    if record.status == "running" and record.fingerprint == print_ and not after_rerun:
        return "resuming where it stopped"
    if after_rerun:
        why = "an earlier stage ran again"
    elif record.status == "pending":
        why = "its folder was there before this run"
    else:
        why = "its settings or input files changed"
    aside = output / REPLACED / f"{stage.name.replace('/', '-')}-{time.strftime('%Y%m%d-%H%M%S')}"
    aside.mkdir(parents=True)
    for folder in (stage.output, *companions):
        if folder.exists():
            folder.rename(aside / folder.name)
    return f"{why}; running it again (its old output is in {aside})"


def _companions(stage: PlannedStage) -> list[Path]:
    """Folders a stage writes beside its output: star's pairs (`pairs_output`, by default OUTPUT-pairs)."""
    if stage.command != "synth":
        return []
    pairs = Path(stage.settings.get("pairs_output") or f"{stage.output}-pairs")
    return [pairs] if pairs.exists() else []


def _measure(record: StageRecord, stage: PlannedStage, summary: Any, seconds: float) -> None:
    record.seconds = round(seconds, 1)
    record.tokens = getattr(summary, "generated_tokens", None)
    record.rows = record.valid = None
    if stage.command in ARTIFACT_COMMANDS:
        artifact = open_artifact(stage.output)
        record.rows = artifact.rows
        record.cost = (artifact.cost or {}).get("usd")
        if artifact.has("valid"):
            record.valid = sum(b.column("valid").to_pylist().count(True) for b in artifact.batches(["valid"]))
    if stage.command == "synth" and getattr(summary, "pairs_output", None):  # star's pairs, beside the samples
        record.figures = {"pairs": summary.pairs}
    if stage.command == "eval mmlu":
        overall = summary.summary.overall
        record.figures = {"accuracy": overall.accuracy, "questions": overall.n}
    elif stage.command == "train":
        record.rows = getattr(summary, "rows", None)
        record.figures = {k: getattr(summary, k, None) for k in ("steps", "first_loss", "last_loss")}


@contextmanager
def _only_run(output: Path) -> Iterator[None]:
    """One run per pipeline folder at a time: two would write the same stages' folders and record."""
    with open(output / ".pipeline.lock", "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as err:
            raise ArtifactError(f"another `harness run` is using {output}; wait for it or stop it") from err
        yield


def _or_dash(value: int | None) -> str:
    return "-" if value is None else str(value)
