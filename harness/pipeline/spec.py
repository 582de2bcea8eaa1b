"""A pipeline file and its plan: named stages (any harness command with its settings) and rounds (a block of
stages repeated N times, each round on the model the previous one trained).

```yaml
description: one line for `harness run --list`
model: default                 # `${model}` before the first round
sizes:                         # `--size NAME` picks one (default: tiny); `${size.KEY}` reads it
  tiny: {limit: 8, rounds: 1}
defaults: {seed: 0}            # values every size has unless it sets them
stages:
  - {name: generate, command: synth, settings: {task: star, input: sample, limit: "${size.limit}"}}
  - rounds:
      count: "${size.rounds}"
      model_from: train        # this stage's output is the next round's `${model}`
      stages:
        - {name: train, command: train, settings: {method: sft, input: "${generate}", model: "${model}"}}
```

A setting's `${NAME}` is the output folder of the stage NAME (in a round: the round's own stage first, then
one before the rounds; `${previous.NAME}`: the previous round's); `${output}` is the pipeline's folder and
`${round}` the round's number, `${data}` the folder of the data the harness ships. A value that is one whole
`${...}` keeps the variable's type. The runner gives each stage its own folder, `OUTPUT/NAME` (`OUTPUT/round-K/NAME`
in a round), so a stage never sets its output.

A stage with `when: VALUE` is left out when VALUE resolves to nothing (null, false, "", 0): a size turns a stage on
or off. A stage before the rounds with `sets_model: true` makes its output the first round's `${model}`. The rounds
block may measure each round (`measure`: an `eval mmlu` stage of the round; `baseline`: one before the rounds, on
the starting model), keep the best measured round's model (`keep: best`) and stop after a round that scored below
the one before (`stop_when_worse: true`); see harness/pipeline/rounds.py.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError

from harness.config.base import ConfigError, StrictModel, describe_problem, read_settings_file

# command -> the setting that names its output folder (push writes to the Hub, or to `to_dir`)
COMMANDS = {
    "synth": "output",
    "judge": "output",
    "rescore": "output",
    "select": "output",
    "decontam": "output",
    "eval mmlu": "output",
    "train": "output",
    "report": "output",
    "push": "to_dir",
}
DATA = Path(__file__).parents[1] / "data"  # `${data}`: the data the harness ships (harness/data)
NAME = re.compile(r"^[a-z][a-z0-9_-]*$")
VARIABLE = re.compile(r"\$\{([A-Za-z0-9_.-]+)\}")


class StageSpec(StrictModel):
    name: str = Field(description="Unique in its block: the stage's folder and how later stages name its output.")
    command: str = Field(description=f"A harness command: {', '.join(COMMANDS)}.")
    settings: dict[str, Any] = Field(default_factory=dict, description="The command's settings (its YAML keys).")
    when: Any = Field(True, description="Left out when this resolves to nothing (null, false, empty, 0).")
    sets_model: bool = Field(False, description="Before the rounds: its output is the first round's `${model}`.")


class RoundsSpec(StrictModel):
    count: int | str = Field(description="How many rounds (or a `${size.KEY}`).")
    model_from: str = Field(description="The round's stage whose output folder is the next round's model.")
    measure: str | None = Field(None, description="The round's `eval mmlu` stage: the round's accuracy.")
    baseline: str | None = Field(None, description="An `eval mmlu` stage before the rounds: the start's accuracy.")
    keep: str = Field("last", description="The result: the `last` round's model, or the `best` measured one.")
    stop_when_worse: bool | str = Field(False, description="Stop after a round that scored below the one before.")
    stages: list[StageSpec]


class RoundsBlock(StrictModel):
    rounds: RoundsSpec


class PipelineSpec(StrictModel):
    description: str = ""
    model: str = Field("default", description="`${model}` before the first round.")
    sizes: dict[str, dict[str, Any]] = Field(default_factory=dict, description="Named sets of `${size.KEY}` values.")
    defaults: dict[str, Any] = Field(default_factory=dict, description="`${size.KEY}` values every size has.")
    stages: list[StageSpec | RoundsBlock]


@dataclass
class PlannedStage:
    """One stage as it runs: its unique name, command, settings with every variable resolved, output folder;
    in a round, the round's number and the stage's name in the rounds block."""

    name: str
    command: str
    settings: dict[str, Any]
    output: Path
    round: int | None = None
    base: str = ""


@dataclass
class RoundsPlan:
    """The rounds block as it runs: what it measures, which model it keeps, when it stops (rounds.py)."""

    count: int
    model_in: str  # round 1's `${model}`
    model_from: str
    measure: str | None  # None: not measured (no such stage, or left out by its `when`)
    baseline: str | None
    keep: str
    stop_when_worse: bool


@dataclass
class Plan:
    stages: list[PlannedStage]
    rounds: RoundsPlan | None = None


def read_pipeline(path: Path) -> PipelineSpec:
    """The pipeline file at `path`, checked (unknown keys, commands and duplicate names are errors)."""
    data = read_settings_file(path)
    try:
        spec = PipelineSpec.model_validate(data)
    except ValidationError as err:
        raise ConfigError(f"{path}: " + "; ".join(describe_problem(e) for e in err.errors())) from err
    for block in _blocks(spec):
        names = [s.name for s in block]
        for stage in block:
            if not NAME.match(stage.name):
                raise ConfigError(f"{path}: stage name {stage.name!r}: use lower-case letters, digits, - and _")
            if stage.command not in COMMANDS:
                raise ConfigError(f"{path}: stage {stage.name}: unknown command {stage.command!r}; one of: "
                                  + ", ".join(COMMANDS))  # fmt: skip
            if COMMANDS[stage.command] in stage.settings:
                raise ConfigError(f"{path}: stage {stage.name}: leave `{COMMANDS[stage.command]}` out; the run "
                                  f"writes each stage into OUTPUT/{stage.name}")  # fmt: skip
        if duplicate := next((n for n in names if names.count(n) > 1), None):
            raise ConfigError(f"{path}: two stages are named {duplicate!r}")
    blocks = [b.rounds for b in spec.stages if isinstance(b, RoundsBlock)]
    if len(blocks) > 1:
        raise ConfigError(f"{path}: one rounds block per pipeline (this one has {len(blocks)})")
    for rounds in blocks:
        if any(s.sets_model for s in rounds.stages):
            raise ConfigError(f"{path}: `sets_model` is for a stage before the rounds (a round has model_from)")
        for key in ("model_from", "measure"):
            if getattr(rounds, key) not in (None, *(s.name for s in rounds.stages)):
                raise ConfigError(f"{path}: rounds.{key}: no stage named {getattr(rounds, key)!r} in the rounds")
        top = {s.name: s.command for s in spec.stages if isinstance(s, StageSpec)}
        if rounds.baseline is not None and top.get(rounds.baseline) != "eval mmlu":
            raise ConfigError(f"{path}: rounds.baseline: {rounds.baseline!r} is no `eval mmlu` stage before the rounds")
    return spec


def plan(
    spec: PipelineSpec, output: Path, size: str | None, overrides: dict[str, Any],
    extra: dict[str, dict[str, Any]] | None = None,
) -> Plan:  # fmt: skip
    """Every stage in run order, rounds unrolled, each setting's variables resolved. `extra`: settings by a stage's
    name in the file (in every round), over the file's (how `harness loop` passes its flags to the stages)."""
    if spec.sizes and size is None:
        size = "tiny" if "tiny" in spec.sizes else next(iter(spec.sizes))
    if size is not None and size not in spec.sizes:
        known = ", ".join(spec.sizes) or "none"
        raise ConfigError(f"--size {size}: this pipeline's sizes are: {known}")
    chosen = {**spec.defaults, **spec.sizes.get(size or "", {})}
    if unknown := sorted(set(overrides) - set(chosen)):
        known = ", ".join(chosen) or "none"
        raise ConfigError(f"--set {unknown[0]}: the size {size or '(none)'} has no such value; its values: {known}")
    variables: dict[str, Any] = {"output": str(output), "round": 0, "data": str(DATA)}
    # A size's value may name `${data}` or `${output}` (a bundled file: `${data}/star_demo.jsonl`), and the
    # pipeline's `model:` a size's value (`model: ${size.model}`: the default model at tiny, the card's at full).
    base = dict(variables)
    variables.update({f"size.{k}": resolve(v, base, f"size {size}: {k}") for k, v in {**chosen, **overrides}.items()})
    variables["model"] = resolve(spec.model, variables, "model")
    result = Plan([])
    extra = extra or {}
    for entry in spec.stages:
        if isinstance(entry, StageSpec):
            if _wanted(entry, entry.name, variables):
                result.stages.append(_place(entry, entry.name, output / entry.name, variables, extra))
                variables[entry.name] = str(output / entry.name)
                if entry.sets_model:
                    variables["model"] = variables[entry.name]
            continue
        result.rounds = _rounds(entry.rounds, variables)
        previous: dict[str, str] = {}
        for number in range(1, result.rounds.count + 1):
            scope = {**variables, "round": number, **{f"previous.{k}": v for k, v in previous.items()}}
            wanted = [s for s in entry.rounds.stages if _wanted(s, f"round-{number}/{s.name}", scope)]
            if entry.rounds.model_from not in {s.name for s in wanted}:
                raise ConfigError(f"rounds.model_from: the stage {entry.rounds.model_from!r} is left out by its `when`")
            for stage in wanted:
                folder = output / f"round-{number}" / stage.name
                placed = _place(stage, f"round-{number}/{stage.name}", folder, scope, extra)
                placed.round, placed.base = number, stage.name
                result.stages.append(placed)
                scope[stage.name] = previous[stage.name] = str(folder)
            result.rounds.measure = result.rounds.measure if result.rounds.measure in previous else None
            variables["model"] = previous[entry.rounds.model_from]
    if result.rounds is not None and result.rounds.baseline not in variables:
        result.rounds.baseline = None  # left out by its `when`
    return result


def resolve(value: Any, variables: dict[str, Any], where: str) -> Any:
    """`value` with each `${NAME}` replaced; a string that is one whole `${NAME}` becomes the variable's value."""
    if isinstance(value, dict):
        return {k: resolve(v, variables, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(v, variables, where) for v in value]
    if not isinstance(value, str):
        return value

    def lookup(name: str) -> Any:
        if name not in variables:
            known = ", ".join(sorted(variables))
            raise ConfigError(f"{where}: ${{{name}}} names nothing defined before it; defined: {known}")
        return variables[name]

    whole = VARIABLE.fullmatch(value)
    if whole:
        return lookup(whole.group(1))
    return VARIABLE.sub(lambda m: str(lookup(m.group(1))), value)


def _rounds(rounds: RoundsSpec, variables: dict[str, Any]) -> RoundsPlan:
    count = resolve(rounds.count, variables, "rounds.count")
    if not isinstance(count, int) or isinstance(count, bool) or count < 1:
        raise ConfigError(f"rounds.count: {count!r} is not a whole number of rounds (1 or more)")
    keep = resolve(rounds.keep, variables, "rounds.keep")
    if keep not in ("last", "best"):
        raise ConfigError(f"rounds.keep: {keep!r}; use last or best")
    stop = resolve(rounds.stop_when_worse, variables, "rounds.stop_when_worse")
    if not isinstance(stop, bool):
        raise ConfigError(f"rounds.stop_when_worse: {stop!r} is not true or false")
    measure = rounds.measure
    if measure is None and (keep == "best" or stop):
        raise ConfigError("rounds: keep: best and stop_when_worse need each round measured: set rounds.measure")
    return RoundsPlan(count, str(variables["model"]), rounds.model_from, measure, rounds.baseline, keep, stop)


def _wanted(stage: StageSpec, name: str, variables: dict[str, Any]) -> bool:
    return bool(resolve(stage.when, variables, f"stage {name}.when"))


def _place(
    stage: StageSpec, name: str, folder: Path, variables: dict[str, Any], extra: dict[str, dict[str, Any]]
) -> PlannedStage:
    settings = {**resolve(stage.settings, variables, f"stage {name}"), **extra.get(stage.name, {})}
    settings[COMMANDS[stage.command]] = str(folder)
    return PlannedStage(name, stage.command, settings, folder)


def _blocks(spec: PipelineSpec) -> list[list[StageSpec]]:
    top = [s for s in spec.stages if isinstance(s, StageSpec)]
    return [top] + [b.rounds.stages for b in spec.stages if isinstance(b, RoundsBlock)]
