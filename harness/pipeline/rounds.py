"""A pipeline's rounds as one record: what each round started from and trained, what it measured, which model is
the run's result, and why the rounds stopped early; written to OUTPUT/loop.json after every round stage.

A round stops the rounds when one of its stages writes no rows (nothing to train on: the stages after it cannot
run) and, with `stop_when_worse`, when its measured accuracy fell below the round before's (the starting model's
for round 1). The record is rebuilt from pipeline.json's stage records each time, so a rerun that skips finished
stages comes to the same decisions and the same table. `harness report` and `harness push` read loop.json.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.artifacts.writer import write_json_atomic
from harness.cost import folder_cost
from harness.pipeline.spec import PlannedStage, RoundsPlan
from harness.pipeline.state import PipelineState, StageRecord

LINKS_FILE = "loop.json"


@dataclass
class Rounds:
    """The rounds block of one run: its plan and the stages of each round."""

    plan: RoundsPlan
    stages: list[PlannedStage]  # every planned stage of the run

    def stopping(self, stage: PlannedStage, record: StageRecord, state: PipelineState) -> str | None:
        """Why the rounds end after this finished stage, or None."""
        if stage.round is None:
            return None
        if record.rows == 0 and stage.command != "train":
            return f"round {stage.round}: {stage.base} wrote no rows, so there is nothing to train on"
        if record.figures.get("pairs") == 0:
            return (
                f"round {stage.round}: {stage.base} found no (correct, incorrect) pair, so there is nothing to train on"
            )
        if self.plan.stop_when_worse and stage.base == self.plan.measure and stage.round < self.plan.count:
            before = self._accuracy(state, stage.round - 1)
            after = record.figures.get("accuracy")
            if before is not None and after is not None and after < before:
                return f"round {stage.round}: accuracy fell from {before:.3f} to {after:.3f} (stop_when_worse)"
        return None

    def record(self, output: Path, pipeline: str, state: PipelineState, stopped: str | None) -> dict[str, Any]:
        rounds = [self._round(k, state) for k in range(1, self.plan.count + 1)]
        rounds = [r for r in rounds if r["stages"]]
        start = self._measured(state, 0)
        table = [{"round": 0, "model": None, **_accuracy_of(start)}] if start else []
        table += [{"round": r["round"], "model": r["model_out"], **_accuracy_of(r["eval"]), **r["figures"]}
                  for r in rounds]  # fmt: skip
        return {
            "loop": pipeline,
            "rounds": rounds,
            "final_model": self._final_model(rounds),
            "keep": self.plan.keep,
            "stopped": stopped,
            "start_eval": start,
            "table": table,  # per round: accuracy, valid share, training rows, loss
            "cost": folder_cost(output),  # every round's stages, when priced
        }

    def write(self, output: Path, pipeline: str, state: PipelineState, stopped: str | None) -> dict[str, Any]:
        links = self.record(output, pipeline, state, stopped)
        write_json_atomic(output / LINKS_FILE, links)
        return links

    def _round(self, k: int, state: PipelineState) -> dict[str, Any]:
        mine = [s for s in self.stages if s.round == k]
        done = {s.base: (s, state.record(s.name)) for s in mine if _done(state.record(s.name))}
        trained = done.get(self.plan.model_from)
        generated = next((r for s, r in done.values() if s.command == "synth"), None)
        trainer = trained[1] if trained else None
        return {
            "round": k,
            "model_in": self.plan.model_in if k == 1 else str(next(s.output for s in self.stages
                                                                    if s.round == k - 1 and s.base == self.plan.model_from)),
            "model_out": str(trained[0].output) if trained else None,
            "stages": {base: str(s.output) for base, (s, _) in done.items()},
            "eval": self._measured(state, k) or {},
            "train": dict(trainer.figures) if trainer else {},
            "figures": {
                "valid_share": generated.valid / generated.rows if generated and generated.rows else None,
                "training_rows": trainer.rows if trainer else None,
                "loss": trainer.figures.get("last_loss") if trainer else None,
            },
        }  # fmt: skip

    def _measured(self, state: PipelineState, k: int) -> dict[str, Any] | None:
        """Round k's measurement (k = 0: the starting model's, the baseline stage)."""
        name = self.plan.baseline if k == 0 else (f"round-{k}/{self.plan.measure}" if self.plan.measure else None)
        record = state.record(name) if name else None
        if not _done(record) or record.figures.get("accuracy") is None:
            return None
        return {"benchmark": "mmlu", **record.figures, "output": record.output}

    def _accuracy(self, state: PipelineState, k: int) -> float | None:
        measured = self._measured(state, k)
        return measured["accuracy"] if measured else None

    def _final_model(self, rounds: list[dict[str, Any]]) -> str | None:
        trained = [r for r in rounds if r["model_out"]]
        measured = [r for r in trained if r["eval"].get("accuracy") is not None]
        if self.plan.keep == "best" and measured:  # the most accurate, the earliest of equals
            return max(measured, key=lambda r: (r["eval"]["accuracy"], -r["round"]))["model_out"]
        return trained[-1]["model_out"] if trained else None


def _done(record: StageRecord | None) -> bool:
    return record is not None and record.status == "done"


def _accuracy_of(measured: dict[str, Any] | None) -> dict[str, Any]:
    measured = measured or {}
    return {"accuracy": measured.get("accuracy"), "questions": measured.get("questions")}
