"""Pipeline files: their checks, the plan (variables, rounds unrolled, one folder per stage) and fingerprints."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from harness.config.base import ConfigError
from harness.pipeline.shipped import find_pipeline, shipped
from harness.pipeline.spec import DATA, plan, read_pipeline
from harness.pipeline.state import PipelineState, StageRecord, fingerprint, read_state, write_state

ROUNDS = {
    "model": "base-model",
    "sizes": {"tiny": {"limit": 2, "rounds": 2}, "full": {"limit": 100, "rounds": 3}},
    "stages": [
        {"name": "questions", "command": "synth", "settings": {"task": "star", "input": "q.jsonl", "limit": "${size.limit}"}},
        {"rounds": {"count": "${size.rounds}", "model_from": "train", "stages": [
            {"name": "gen", "command": "synth", "settings": {"input": "${questions}", "model": "${model}",
                                                             "task_options": {"note": "round ${round}"}}},
            {"name": "train", "command": "train", "settings": {"method": "sft", "input": "${gen}", "model": "${model}"}},
        ]}},
        {"name": "eval", "command": "eval mmlu", "settings": {"model": "${model}"}},
    ],
}  # fmt: skip


def write(tmp_path: Path, data: dict) -> Path:
    path = tmp_path / "pipe.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_rounds_unroll_on_the_previous_round_s_model(tmp_path):
    out = tmp_path / "out"
    stages = plan(read_pipeline(write(tmp_path, ROUNDS)), out, None, {}).stages
    assert [s.name for s in stages] == [
        "questions",
        "round-1/gen",
        "round-1/train",
        "round-2/gen",
        "round-2/train",
        "eval",
    ]
    by = {s.name: s for s in stages}
    assert by["questions"].settings["limit"] == 2  # a whole `${...}` keeps its type; tiny is the first size
    assert by["round-1/gen"].settings["model"] == "base-model"
    assert by["round-2/gen"].settings["model"] == str(out / "round-1" / "train")
    assert by["round-2/train"].settings["input"] == str(out / "round-2" / "gen")  # the round's own stage
    assert by["round-2/gen"].settings["task_options"] == {"note": "round 2"}
    assert by["eval"].settings["model"] == str(out / "round-2" / "train")  # after the rounds: the last model
    assert all(s.settings["output"] == str(s.output) for s in stages)
    assert by["round-1/train"].output == out / "round-1" / "train"


def test_sizes_and_overrides(tmp_path):
    spec = read_pipeline(write(tmp_path, ROUNDS))
    assert len(plan(spec, tmp_path, "full", {}).stages) == 1 + 3 * 2 + 1
    assert plan(spec, tmp_path, "full", {"limit": 7}).stages[0].settings["limit"] == 7
    with pytest.raises(ConfigError, match="--size huge: this pipeline's sizes are: tiny, full"):
        plan(spec, tmp_path, "huge", {})
    with pytest.raises(ConfigError, match="--set limt: the size tiny has no such value; its values: limit, rounds"):
        plan(spec, tmp_path, None, {"limt": 3})


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["stages"][0].update(command="synthesize"), "unknown command 'synthesize'"),
        (lambda d: d["stages"][0]["settings"].update(output="x"), "leave `output` out"),
        (lambda d: d["stages"][0].update(name="Bad Name"), "stage name 'Bad Name'"),
        (lambda d: d["stages"][2].update(name="questions"), "two stages are named 'questions'"),
        (lambda d: d["stages"][1]["rounds"].update(model_from="nope"), "no stage named 'nope' in the rounds"),
        (lambda d: d["stages"][1]["rounds"].update(count=0), "rounds.count: 0 is not a whole number"),
        (lambda d: d["stages"][0]["settings"].update(input="${later}"), r"\$\{later\} names nothing defined"),
        (lambda d: d["stages"][0].update(setings={}), "setings"),
    ],
)
def test_bad_pipeline_files_name_what_is_wrong(tmp_path, change, message):
    data = yaml.safe_load(yaml.safe_dump(ROUNDS))
    change(data)
    with pytest.raises(ConfigError, match=message):
        plan(read_pipeline(write(tmp_path, data)), tmp_path / "out", None, {})


def test_a_stage_cannot_name_a_stage_that_comes_later_or_the_round_before_the_first(tmp_path):
    data = yaml.safe_load(yaml.safe_dump(ROUNDS))
    data["stages"][1]["rounds"]["stages"][0]["settings"]["input"] = "${previous.gen}"
    with pytest.raises(ConfigError, match=r"stage round-1/gen.input: \$\{previous.gen\} names nothing"):
        plan(read_pipeline(write(tmp_path, data)), tmp_path / "out", None, {})


def test_fingerprint_follows_settings_and_input_files_but_not_the_own_output(tmp_path):
    data = tmp_path / "in.jsonl"
    data.write_text("{}\n")
    own = tmp_path / "out" / "stage"
    own.mkdir(parents=True)
    settings = {"input": str(data), "output": str(own), "limit": 2}
    first = fingerprint("synth", settings, own)
    (own / "part-0.parquet").write_text("written by the stage")
    assert fingerprint("synth", settings, own) == first
    assert fingerprint("synth", {**settings, "limit": 3}, own) != first
    data.write_text("{}\n{}\n")
    assert fingerprint("synth", settings, own) != first
    changed = fingerprint("synth", settings, own)
    os.utime(data, ns=(1, 1))
    assert fingerprint("synth", settings, own) != changed  # a touched file may have new content


def test_state_round_trips_and_belongs_to_one_pipeline(tmp_path):
    state = PipelineState("demo", [StageRecord("synth", "synth", "o/synth", "done", "abc", 8, 6, 100, 1.5)])
    write_state(tmp_path, state)
    assert read_state(tmp_path, "demo") == state
    with pytest.raises(Exception, match="holds a run of pipeline 'demo', not 'other'; give another --output"):
        read_state(tmp_path, "other")
    (tmp_path / "pipeline.json").write_text("{not json")
    with pytest.raises(Exception, match="unreadable pipeline record"):
        read_state(tmp_path, "demo")


def test_shipped_pipelines_are_listed_demo_first_and_each_one_plans(tmp_path):
    names = list(shipped())
    assert names[0] == "demo"
    for name in names:
        assert shipped()[name], f"{name} has no description"
        stages = plan(read_pipeline(find_pipeline(name)), tmp_path / name, None, {})
        assert stages, name
    assert (DATA / "star_demo.jsonl").is_file()
    with pytest.raises(ConfigError, match="no such pipeline file, nor a shipped pipeline"):
        find_pipeline("no-such-pipeline")


def test_every_size_of_every_shipped_pipeline_plans_and_its_settings_check(tmp_path):
    """The full sizes never run in the suite (they need GPUs and hub models): their plans and settings still check."""
    from harness.pipeline.runner import _config

    for name in shipped():
        spec = read_pipeline(find_pipeline(name))
        for size in spec.sizes or [None]:
            for stage in plan(spec, tmp_path / name, size, {}).stages:
                _config(stage)  # raises ConfigError naming the stage and the setting


def test_when_leaves_a_stage_out_and_sets_model_starts_the_rounds_from_a_stage(tmp_path):
    data = yaml.safe_load(yaml.safe_dump(ROUNDS))
    data["defaults"] = {"warm": "w.jsonl", "measured": False}
    data["stages"].insert(
        0,
        {
            "name": "warmup",
            "command": "train",
            "when": "${size.warm}",
            "sets_model": True,
            "settings": {"method": "sft", "input": "${size.warm}", "model": "${model}"},
        },
    )
    block = data["stages"][2]["rounds"]
    block["stages"].append(
        {"name": "eval", "command": "eval mmlu", "when": "${size.measured}", "settings": {"model": "${train}"}}
    )
    block["measure"] = "eval"
    data["stages"][3]["name"] = "final"
    spec = read_pipeline(write(tmp_path, data))
    out = tmp_path / "out"
    planned = plan(spec, out, None, {}, extra={"gen": {"engine": "vllm"}})
    by = {s.name: s for s in planned.stages}
    assert by["round-1/gen"].settings["model"] == str(out / "warmup")  # the warm-up's model, not the pipeline's
    assert by["round-2/gen"].settings["engine"] == "vllm" and by["round-2/gen"].round == 2
    assert "round-1/eval" not in by and planned.rounds.measure is None  # left out: nothing measured
    assert planned.rounds.model_in == str(out / "warmup")
    planned = plan(spec, out, None, {"warm": None, "measured": True})  # a default, changed like a size's value
    assert "warmup" not in {s.name for s in planned.stages} and planned.rounds.model_in == "base-model"
    assert planned.rounds.measure == "eval" and "round-2/eval" in {s.name for s in planned.stages}


def test_keep_best_needs_a_measured_round_and_one_rounds_block(tmp_path):
    data = yaml.safe_load(yaml.safe_dump(ROUNDS))
    data["stages"][1]["rounds"]["keep"] = "best"
    with pytest.raises(ConfigError, match="keep: best and stop_when_worse need each round measured"):
        plan(read_pipeline(write(tmp_path, data)), tmp_path / "out", None, {})
    data["stages"][1]["rounds"]["keep"] = "first"
    with pytest.raises(ConfigError, match="rounds.keep: 'first'; use last or best"):
        plan(read_pipeline(write(tmp_path, data)), tmp_path / "out", None, {})
    data["stages"].append(yaml.safe_load(yaml.safe_dump(ROUNDS))["stages"][1])
    with pytest.raises(ConfigError, match="one rounds block per pipeline"):
        read_pipeline(write(tmp_path, data))
