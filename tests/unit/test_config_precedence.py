"""Every command, every setting: typed flag > YAML file > the config model's default (harness/cli/precedence.py).

Each setting a config may hold is written only in the YAML; the command runs with no flag but the file, and
the config its stage receives must hold the file's value. The stage itself is replaced by one that stops with
the config it was given (what it would save as DIR/.harness/config.yaml); test_synth_cli and the end-to-end
tests check that real runs save it.
"""

from __future__ import annotations

import types
import typing
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel
from typer.testing import CliRunner

from harness.cli import app
from harness.config import (
    DecontamConfig,
    EvalConfig,
    JudgeConfig,
    LoopConfig,
    SelectConfig,
    SynthConfig,
    ThoughtRankingConfig,
    TrainConfig,
)


class Resolved(Exception):
    def __init__(self, cfg: BaseModel) -> None:
        self.cfg = cfg


def _stop(cfg, *args, **kwargs):
    raise Resolved(cfg)


GRPO_REWARDS = {"structured_structure": 1.0}


# command -> (argv before --config, the stage it calls, its config model, settings it needs, file flag, skipped)
COMMANDS: dict[str, tuple[list[str], str, type[BaseModel], dict[str, Any], str, set[str]]] = {
    "synth": (["synth"], "harness.stages.synth.run_synth", SynthConfig, {}, "--config", set()),
    "eval mmlu": (["eval", "mmlu"], "harness.stages.eval_mmlu.run_eval_mmlu", EvalConfig, {}, "--config", set()),
    "judge": (
        ["judge"], "harness.stages.judge.run_judge", JudgeConfig,
        {"input": "in", "output": "out", "judges": ["exact"]}, "--config", set(),
    ),
    "decontam": (
        ["decontam"], "harness.stages.decontam.run_decontam", DecontamConfig, {"input": "in", "output": "out"},
        "--config", {"subsets"},  # a string (eval's is a list): test_decontam_subsets_from_the_file
    ),
    "select pairs": (
        ["select", "pairs"], "harness.stages.select.run_select", SelectConfig,
        {"input": "in", "output": "out"}, "--config", {"mode"},  # the command's argument
    ),
    **{
        f"train {method}": (
            # --allow-unchecked: these inputs were never decontaminated (the gate reads the resolved input)
            ["train", method, "--allow-unchecked"], "harness.stages.train.run_train", TrainConfig,
            {"input": "in", "output": "out", **({"rewards": GRPO_REWARDS} if method == "grpo" else {})},
            "--recipe",
            {"method"} | ({"rewards", "mixce_ratio"} - ({"rewards"} if method == "grpo" else set()))
            | ({"mixce_ratio"} if method != "sft" else set()),  # those apply to one method only
        )
        for method in ("sft", "grpo", "rank", "dpo")
    },
    # Loops: measured (`eval`), since `keep: best` and `stop_when_worse` are refused without it.
    "loop star": (
        ["loop", "star"], "harness.pipeline.loops.run_star_loop", LoopConfig,
        {"input": "in", "output": "out", "eval": "mmlu"}, "--config", set(),
    ),
    "loop thought-ranking": (
        ["loop", "thought-ranking"], "harness.pipeline.loops.run_thought_ranking_loop",
        ThoughtRankingConfig, {"input": "in", "output": "out", "eval": "mmlu"}, "--config", set(),
    ),
}  # fmt: skip

# Values a generic rule would get wrong (validated forms, or constraints between settings).
SPECIAL = {
    "shard": "1/3",
    "rewards": {"structured_structure": 2.0},
    "judges": ["exact", "math"],
    "subsets": ["stem"],
    "batch_size": 8,  # grpo: a multiple of num_generations
    "num_generations": 2,
    "max_length": 2048,
    "max_steps": 7,  # 0 is refused (train at least one step)
}
# Settings of eval that apply to its generative mode only.
GENERATIVE_ONLY = ("task", "system_prompt", "sampling.")


def _settings(model: type[BaseModel], prefix: str = "") -> list[tuple[str, Any]]:
    """(dotted name, a valid value unlike the default) for every setting of `model`, into nested sections."""
    out = []
    for name, field in model.model_fields.items():
        kind = _strip_optional(field.annotation)
        if isinstance(kind, type) and issubclass(kind, BaseModel):
            out += _settings(kind, f"{prefix}{name}.")
        else:
            out.append(
                (prefix + name, SPECIAL.get(name, _other_value(kind, field.get_default(call_default_factory=True))))
            )
    return out


def _strip_optional(annotation: Any) -> Any:
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        return next(a for a in typing.get_args(annotation) if a is not type(None))
    return annotation


def _other_value(kind: Any, default: Any) -> Any:
    origin = typing.get_origin(kind)
    if origin is typing.Literal:
        return next(choice for choice in typing.get_args(kind) if choice != default)
    if kind is bool:
        return not default
    if kind is int:
        return 3 if default is None else default + 1
    if kind is float:
        return 0.5 if not default else default / 2
    if kind is str:
        return "from-yaml"
    if origin is list:
        return ["from-yaml"]
    if origin is dict:
        values = typing.get_args(kind)[1]
        return {"from_yaml": _other_value(values, None) if values in (str, int, float) else 1}
    raise AssertionError(f"no test value for a setting of type {kind}: add it to SPECIAL")


def _cases():
    for command, (_, _, model, _, _, skipped) in COMMANDS.items():
        for name, value in _settings(model):
            if name.split(".")[0] not in skipped:
                yield pytest.param(command, name, value, id=f"{command}:{name}")


def _nested(name: str, value: Any) -> dict[str, Any]:
    head, _, rest = name.partition(".")
    return {head: _nested(rest, value) if rest else value}


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in extra.items():
        merged[key] = _merge(merged[key], value) if isinstance(merged.get(key), dict) else value
    return merged


def _resolve(monkeypatch, tmp_path: Path, command: str, settings: dict[str, Any], *flags: str) -> BaseModel:
    argv, stage, _, _, file_flag, _ = COMMANDS[command]
    monkeypatch.setattr(stage, _stop)
    path = tmp_path / "settings.yaml"
    path.write_text(yaml.safe_dump(settings))
    result = CliRunner().invoke(app, [*argv, file_flag, str(path), *flags])
    assert isinstance(result.exception, Resolved), result.output
    return result.exception.cfg


def _get(cfg: BaseModel, name: str) -> Any:
    for part in name.split("."):
        cfg = getattr(cfg, part)
    return cfg


@pytest.mark.parametrize(("command", "name", "value"), list(_cases()))
def test_a_setting_given_only_in_the_file_is_obeyed(monkeypatch, tmp_path, command, name, value):
    settings = COMMANDS[command][3]
    if command == "eval mmlu" and name.startswith(GENERATIVE_ONLY):
        settings = {**settings, "mode": "generative"}
    cfg = _resolve(monkeypatch, tmp_path, command, _merge(settings, _nested(name, value)))
    got = _get(cfg, name)
    assert (got.model_dump() if isinstance(got, BaseModel) else got) == value


@pytest.mark.parametrize(("value", "want"), [("stem", "stem"), (["stem", "anatomy"], "stem,anatomy")])
def test_decontam_subsets_from_the_file(monkeypatch, tmp_path, value, want):
    settings = {"input": "in", "output": "out", "subsets": value}
    assert _resolve(monkeypatch, tmp_path, "decontam", settings).subsets == want


def test_the_issue_s_yaml_runs_the_file_s_task_on_the_file_s_input(monkeypatch, tmp_path):
    settings = {"task": "star", "input": "/nonexistent/from_yaml.jsonl", "output": str(tmp_path / "from-yaml")}
    cfg = _resolve(monkeypatch, tmp_path, "synth", settings, "--limit", "1", "--max-tokens", "1")
    assert (cfg.task, cfg.input, cfg.output, cfg.limit, cfg.sampling.max_tokens) == (
        "star", "/nonexistent/from_yaml.jsonl", str(tmp_path / "from-yaml"), 1, 1,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("command", "flags", "name", "value"),
    [
        ("synth", ["--task", "structured", "--output", "typed"], "task", "structured"),
        ("synth", ["--no-cache"], "cache", False),
        ("synth", ["--max-tokens", "7"], "sampling.max_tokens", 7),
        ("synth", ["--kv-cache-memory", "1KiB"], "vllm.kv_cache_memory_bytes", 1024),
        ("eval mmlu", ["--output", "typed"], "output", "typed"),
        ("judge", ["--judge", "mc"], "judges", ["mc"]),
        ("select pairs", ["--threshold", "0.25"], "threshold", 0.25),
        ("train sft", ["--max-steps", "9"], "max_steps", 9),
        ("loop star", ["--rounds", "4"], "rounds", 4),  # typed, though it equals the shown default
        ("loop thought-ranking", ["--judge-max-tokens", "5"], "judge.max_tokens", 5),
    ],
)
def test_a_typed_flag_beats_the_file(monkeypatch, tmp_path, command, flags, name, value):
    _, _, model, needed, _, _ = COMMANDS[command]
    in_file = dict(_settings(model))[name]
    cfg = _resolve(monkeypatch, tmp_path, command, _merge(needed, _nested(name, in_file)), *flags)
    assert _get(cfg, name) == value


@pytest.mark.parametrize("command", list(COMMANDS))
def test_without_file_values_or_flags_the_model_defaults_apply(monkeypatch, tmp_path, command):
    _, _, model, needed, _, _ = COMMANDS[command]
    cfg = _resolve(monkeypatch, tmp_path, command, needed)
    method = {"method": command.split()[1]} if model is TrainConfig else {}
    mode = {"mode": "pairs"} if model is SelectConfig else {}
    assert cfg == model(**needed, **method, **mode)


def test_a_missing_required_setting_names_the_flag_and_the_file_key(monkeypatch, tmp_path):
    monkeypatch.setattr("harness.stages.judge.run_judge", _stop)
    result = CliRunner().invoke(app, ["judge", "--input", "in", "--judge", "exact"])
    assert result.exit_code == 2
    assert "output: missing; give --output or set `output:` in the config file" in result.output


@pytest.mark.parametrize("command", list(COMMANDS))
def test_a_default_shown_in_help_is_the_config_model_s_default(command):
    """--help shows a signature's default; the config model's default is what applies (cli_flags.py)."""
    import typer

    argv, _, model, _, _, _ = COMMANDS[command]
    cmd = typer.main.get_command(app)
    for name in argv:
        if not hasattr(cmd, "commands"):
            break  # select's mode is an argument
        cmd = cmd.commands[name]
    shown = {p.name: p.default for p in cmd.params if p.default not in (None, False) and p.name in model.model_fields}
    assert shown == {name: model.model_fields[name].get_default(call_default_factory=True) for name in shown}


def test_every_command_follows_the_rule():
    """A command added on a plain `typer.Typer` would pass its flags' defaults on: declare it on a HarnessTyper."""
    import typer

    from harness.cli.precedence import HarnessCommand

    def leaves(cmd, path):
        if hasattr(cmd, "commands"):
            for name, sub in cmd.commands.items():
                yield from leaves(sub, f"{path} {name}")
        else:
            yield path, cmd

    plain = [
        path for path, cmd in leaves(typer.main.get_command(app), "harness") if not isinstance(cmd, HarnessCommand)
    ]
    assert plain == []
