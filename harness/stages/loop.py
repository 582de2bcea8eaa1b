"""`harness loop star`: the Memphis-CoT self-improvement rounds, each round on the previous round's model.

Round K (folder DIR/round-K): `synth --task star` samples N rationales per question with the current model and
verifies them (`samples/`), builds the unique (correct, incorrect) pairs (`pairs/`), and trains the current
model on them with the ranking loss or DPO (`model/`). `DIR/loop.json` links every round: the model it started
from, its artifacts, its counts and its training result. A rerun resumes: finished rounds are skipped, an
interrupted synth or training resumes where it stopped. A round without any pair cannot train: the loop stops
there and says so.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console

from harness.artifacts import _write_atomic
from harness.config import LoopConfig, SynthConfig
from harness.stages.synth import run_synth
from harness.stages.train import PROVENANCE_FILE, load_train_config, run_train

DEFAULT_RECIPES = {"rank": "memphis-rank", "dpo": "star-dpo"}


@dataclass
class LoopRound:
    round: int
    model_in: str
    samples: str
    pairs: str
    model_out: str | None = None
    rows: int = 0  # samples in the artifact
    valid: int = 0
    pairs_count: int = 0
    train: dict[str, Any] = field(default_factory=dict)


@dataclass
class LoopSummary:
    output: str
    rounds: list[LoopRound]
    stopped: str | None = None  # why the loop ended early

    @property
    def final_model(self) -> str | None:
        trained = [r.model_out for r in self.rounds if r.model_out]
        return trained[-1] if trained else None


def run_star_loop(cfg: LoopConfig, console: Console | None = None) -> LoopSummary:
    console = console or Console(stderr=True)
    root = Path(cfg.output)
    recipe = cfg.recipe or DEFAULT_RECIPES[cfg.method]
    summary = LoopSummary(output=str(root), rounds=[])
    earlier = _earlier_rounds(root)
    model = cfg.model
    for k in range(1, cfg.rounds + 1):
        folder = root / f"round-{k}"
        finished = (folder / "model" / PROVENANCE_FILE).is_file()
        step = LoopRound(**earlier[k]) if finished and k in earlier else LoopRound(k, model, *_paths(folder))
        summary.rounds.append(step)
        console.rule(f"loop star: round {k}/{cfg.rounds} (model {model})")
        if finished:  # not sampled again: its pairs would be rebuilt, so its model's input would change
            console.print(f"round {k} is already done: {folder / 'model'}", highlight=False)
        else:
            synth = run_synth(_synth_config(cfg, model, step), console)
            step.rows, step.valid, step.pairs_count = synth.artifact_rows, synth.artifact_valid, synth.pairs
            if synth.pairs == 0:
                summary.stopped = f"round {k}: no (correct, incorrect) pair among {synth.artifact_rows} samples"
                _write_links(root, cfg, summary)
                return summary
        train_cfg = load_train_config(
            cfg.method,
            recipe,
            {**cfg.train, "input": step.pairs, "output": str(folder / "model"), "model": model, "threads": cfg.threads},
        )
        trained = run_train(train_cfg, console, recipe)
        step.model_out = trained.output
        step.train = {key: v for key, v in asdict(trained).items() if key not in ("output", "method")}
        model = trained.output
        _write_links(root, cfg, summary)
    return summary


def _paths(folder: Path) -> tuple[str, str]:
    return str(folder / "samples"), str(folder / "pairs")


def _earlier_rounds(root: Path) -> dict[int, dict[str, Any]]:
    """The rounds a previous run recorded, so a resumed loop keeps their counts."""
    links = root / "loop.json"
    if not links.is_file():
        return {}
    return {r["round"]: r for r in json.loads(links.read_text()).get("rounds", [])}


def _synth_config(cfg: LoopConfig, model: str, step: LoopRound) -> SynthConfig:
    return SynthConfig(
        task="star",
        input=cfg.input,
        output=step.samples,
        pairs_output=step.pairs,
        model=model,
        columns=cfg.columns,
        sampling=cfg.sampling,
        limit=cfg.limit,
        threads=cfg.threads,
        **({"batch_size": cfg.synth_batch_size} if cfg.synth_batch_size else {}),
    )


def _write_links(root: Path, cfg: LoopConfig, summary: LoopSummary) -> None:
    root.mkdir(parents=True, exist_ok=True)
    links = {
        "loop": "star",
        "config": cfg.model_dump(),
        "rounds": [asdict(r) for r in summary.rounds],
        "final_model": summary.final_model,
        "stopped": summary.stopped,
    }
    _write_atomic(root / "loop.json", json.dumps(links, indent=2, default=str))
