"""`harness loop star`: the Memphis-CoT self-improvement rounds, each round on the previous round's model.

Round K (folder DIR/round-K): `synth --task star` samples N rationales per question with the current model and
verifies them (`samples/`), builds the unique (correct, incorrect) pairs (`pairs/`), and trains the current
model on them with the ranking loss or DPO (`model/`). Rounds, resume and `DIR/loop.json` as every loop
(`loop_rounds.py`). A round without any pair cannot train: the loop stops there and says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console

from harness.config import LoopConfig
from harness.stages.loop_rounds import LoopPlan, LoopRound, LoopSummary, round_synth_config, run_rounds
from harness.stages.loop_star_sft import run_initial_sft
from harness.stages.synth import run_synth

DEFAULT_RECIPES = {"rank": "memphis-rank", "dpo": "star-dpo"}


@dataclass(kw_only=True)
class StarRound(LoopRound):
    samples: str
    pairs: str
    rows: int = 0  # samples in the artifact
    valid: int = 0
    pairs_count: int = 0

    def training_input(self) -> str:
        return self.pairs

    def figures(self) -> dict[str, Any]:
        return {"valid_share": self.valid / self.rows if self.rows else None, "training_rows": self.pairs_count}


def run_star_loop(cfg: LoopConfig, console: Console | None = None) -> LoopSummary:
    console = console or Console(stderr=True)

    def new_round(k: int, model: str, folder: Path) -> StarRound:
        return StarRound(round=k, model_in=model, samples=str(folder / "samples"), pairs=str(folder / "pairs"))

    def prepare(step: StarRound) -> str | None:
        star = {"pairs_output": step.pairs, "sampling": cfg.sampling, "task_options": cfg.task_options}
        synth = run_synth(round_synth_config(cfg, step, "star", step.samples, **star), console)
        step.rows, step.valid, step.pairs_count = synth.artifact_rows, synth.artifact_valid, synth.pairs
        if synth.pairs == 0:
            return f"no (correct, incorrect) pair among {synth.artifact_rows} samples"
        return None

    recipe = cfg.recipe or DEFAULT_RECIPES[cfg.method]
    if cfg.sft_input is not None:  # the card's first phase: round 1 starts from its model
        cfg = cfg.model_copy(update={"model": run_initial_sft(cfg, console)})
    return run_rounds(LoopPlan("star", StarRound, new_round, prepare, cfg.method, recipe), cfg, console)
