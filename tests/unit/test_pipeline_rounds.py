"""A pipeline's rounds (harness/pipeline/rounds.py): the per-round table in loop.json, the model a run keeps, and
when the rounds stop: a stage that wrote nothing to train on, or a measured round that scored below the one before."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.config import ConfigError, LoopConfig, load_config
from harness.pipeline.rounds import Rounds
from harness.pipeline.spec import PlannedStage, RoundsPlan
from harness.pipeline.state import PipelineState, StageRecord

OUT = Path("out")


def rounds_of(count: int, keep: str = "last", stop: bool = False) -> tuple[Rounds, PipelineState]:
    """`count` rounds of generate -> train -> eval after a start-eval; every stage done, nothing measured yet."""
    plan = RoundsPlan(count, "base", "train", "eval", "start-eval", keep, stop)
    stages = [PlannedStage("start-eval", "eval mmlu", {}, OUT / "start-eval")]
    for k in range(1, count + 1):
        for base, command in (("generate", "synth"), ("train", "train"), ("eval", "eval mmlu")):
            stages.append(PlannedStage(f"round-{k}/{base}", command, {}, OUT / f"round-{k}" / base, k, base))
    records = [StageRecord(s.name, s.command, str(s.output), status="done") for s in stages]
    return Rounds(plan, stages), PipelineState("memphis", records)


def measure(state: PipelineState, name: str, accuracy: float) -> StageRecord:
    record = state.record(name)
    record.figures = {"accuracy": accuracy, "questions": 10}
    return record


def test_the_table_has_the_start_then_one_row_per_round():
    rounds, state = rounds_of(1)
    measure(state, "start-eval", 0.3)
    measure(state, "round-1/eval", 0.4)
    generate, train = state.record("round-1/generate"), state.record("round-1/train")
    generate.rows, generate.valid = 16, 12
    train.rows, train.figures = 5, {"steps": 1, "first_loss": 2.0, "last_loss": 1.5}
    links = rounds.record(OUT, "memphis", state, None)
    assert links["table"][0] == {"round": 0, "model": None, "accuracy": 0.3, "questions": 10}
    assert links["table"][1] == {
        "round": 1, "model": str(OUT / "round-1" / "train"), "accuracy": 0.4, "questions": 10, "valid_share": 0.75,
        "training_rows": 5, "loss": 1.5,
    }  # fmt: skip
    [round_1] = links["rounds"]
    assert round_1["model_in"] == "base" and round_1["train"]["steps"] == 1
    assert round_1["stages"]["generate"] == str(OUT / "round-1" / "generate")
    assert links["start_eval"]["accuracy"] == 0.3 and links["final_model"] == round_1["model_out"]


def test_keep_best_takes_the_most_accurate_round_and_the_earliest_of_equals():
    for keep, want in (("best", 2), ("last", 4)):
        rounds, state = rounds_of(4, keep=keep)
        for k, accuracy in enumerate((0.4, 0.5, 0.5, 0.2), start=1):
            measure(state, f"round-{k}/eval", accuracy)
        links = rounds.record(OUT, "memphis", state, None)
        assert links["final_model"] == str(OUT / f"round-{want}" / "train")
        assert links["rounds"][1]["model_in"] == str(OUT / "round-1" / "train")


def test_a_round_that_scores_below_the_one_before_stops_the_rounds():
    rounds, state = rounds_of(3, stop=True)
    measure(state, "start-eval", 0.5)
    eval_1 = measure(state, "round-1/eval", 0.4)
    stage = next(s for s in rounds.stages if s.name == "round-1/eval")
    assert rounds.stopping(stage, eval_1, state) == "round 1: accuracy fell from 0.500 to 0.400 (stop_when_worse)"
    eval_1.figures["accuracy"] = 0.5
    assert rounds.stopping(stage, eval_1, state) is None  # equal is no worse
    last = next(s for s in rounds.stages if s.name == "round-3/eval")
    assert rounds.stopping(last, measure(state, "round-3/eval", 0.0), state) is None  # nothing left to stop


def test_a_stage_with_nothing_to_train_on_stops_the_rounds():
    rounds, state = rounds_of(2)
    stage = next(s for s in rounds.stages if s.name == "round-2/generate")
    record = state.record(stage.name)
    record.rows = 0
    assert rounds.stopping(stage, record, state) == "round 2: generate wrote no rows, so there is nothing to train on"
    record.rows, record.figures = 16, {"pairs": 0}
    assert "generate found no (correct, incorrect) pair" in rounds.stopping(stage, record, state)


def test_keep_best_and_stop_when_worse_need_an_eval():
    with pytest.raises(ConfigError, match="need each round measured: add --eval mmlu"):
        load_config(None, {"input": "q", "output": "o", "keep": "best"}, LoopConfig)
    cfg = load_config(
        None, {"input": "q", "output": "o", "eval": "mmlu", "eval_subsets": "anatomy, virology"}, LoopConfig
    )
    assert cfg.eval_subsets == ["anatomy", "virology"] and cfg.keep == "last"
