"""The rounds every loop shares: records restored by round, links written, a stop said, another loop refused."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest
from rich.console import Console

from harness.artifacts.writer import ArtifactError
from harness.config import LoopConfig
from harness.stages.loop_rounds import LoopPlan, LoopRound, LoopSummary, _restored, run_rounds


@dataclass(kw_only=True)
class DemoRound(LoopRound):
    rows: str
    count: int = 0

    def training_input(self) -> str:
        return self.rows


def plan(prepare, name: str = "demo") -> LoopPlan:
    def new_round(k: int, model: str, folder: Path) -> DemoRound:
        return DemoRound(round=k, model_in=model, rows=str(folder / "rows"))

    return LoopPlan(name, DemoRound, new_round, prepare, "sft", "recipe")


def stop_with_count(step: DemoRound) -> str:
    step.count = 3
    return "nothing to train on"


def test_a_round_that_stops_is_linked_with_its_counts_and_the_reason(tmp_path):
    cfg = LoopConfig(input="q.jsonl", output=str(tmp_path / "loop"), rounds=3)
    summary = run_rounds(plan(stop_with_count), cfg, Console(quiet=True))
    assert summary.stopped == "round 1: nothing to train on" and summary.final_model is None
    links = json.loads((tmp_path / "loop" / "loop.json").read_text())
    assert links["loop"] == "demo" and links["stopped"] == summary.stopped
    assert links["rounds"] == [
        {"round": 1, "model_in": "default", "model_out": None, "train": {}, "eval": {},
         "rows": str(tmp_path / "loop/round-1/rows"), "count": 3}
    ]  # fmt: skip
    assert links["config"]["rounds"] == 3


def test_a_folder_of_another_loop_is_refused_before_any_work(tmp_path):
    cfg = LoopConfig(input="q.jsonl", output=str(tmp_path / "loop"))
    run_rounds(plan(stop_with_count, "star"), cfg, Console(quiet=True))

    def must_not_run(step: DemoRound) -> str:
        raise AssertionError("prepared a round in another loop's folder")

    with pytest.raises(ArtifactError, match="holds a `harness loop star` run, not thought-ranking"):
        run_rounds(plan(must_not_run, "thought-ranking"), cfg, Console(quiet=True))


def test_a_recorded_round_is_restored_without_fields_it_no_longer_has():
    recorded = {"round": 2, "model_in": "m", "model_out": "o", "train": {"steps": 1}, "rows": "r", "old_field": 1}
    step = _restored(DemoRound, recorded)
    assert step == DemoRound(round=2, model_in="m", model_out="o", train={"steps": 1}, rows="r")


def test_the_final_model_is_the_last_trained_one():
    rounds = [DemoRound(round=1, model_in="a", model_out="b", rows=""), DemoRound(round=2, model_in="b", rows="")]
    assert LoopSummary("out", rounds).final_model == "b"
    assert LoopSummary("out", []).final_model is None
