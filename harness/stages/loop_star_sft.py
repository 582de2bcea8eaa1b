"""`harness loop star --sft-input`: the Memphis-CoT card's initial supervised phase, before the rank rounds.

The instruction data (tasks/star_sft.py reads the card's two formats) becomes prompt/completion rows in
DIR/sft/data.jsonl, and the starting model is fine-tuned on them with the `memphis-sft` recipe into DIR/sft/model,
which round 1 starts from. A finished phase is not run again (its model's provenance says so).
"""

from __future__ import annotations

import json
from pathlib import Path

from rich.console import Console

from harness.artifacts.sources import InputError, open_source
from harness.artifacts.writer import write_atomic
from harness.config import LoopConfig
from harness.stages.train import PROVENANCE_FILE, load_train_config, run_train
from tasks.star_sft import examples_from_row

SFT_FOLDER = "sft"
DEFAULT_SFT_RECIPE = "memphis-sft"


def run_initial_sft(cfg: LoopConfig, console: Console) -> str:
    """Train the loop's starting model on the SFT data; returns the trained model's folder."""
    folder = Path(cfg.output) / SFT_FOLDER
    model = folder / "model"
    data = folder / "data.jsonl"
    if not (model / PROVENANCE_FILE).is_file():
        folder.mkdir(parents=True, exist_ok=True)
        count = write_examples(str(cfg.sft_input), data)
        console.print(f"initial SFT: {count} prompt/completion rows from {cfg.sft_input}", highlight=False)
    recipe = cfg.sft_recipe or DEFAULT_SFT_RECIPE
    overrides = {**cfg.train, "input": str(data), "output": str(model), "model": cfg.model, "threads": cfg.threads}
    scale = {"processes": cfg.num_processes, "accelerate_config": cfg.accelerate_config}
    return run_train(load_train_config("sft", recipe, overrides), console, recipe, **scale).output


def write_examples(spec: str, target: Path) -> int:
    """Every input row's examples as JSONL, written atomically; a bad row is named with its reason."""
    source = open_source(spec, {})
    lines = []
    for index, row in source.values():
        try:
            lines += [json.dumps(example, ensure_ascii=False) for example in examples_from_row(row)]
        except ValueError as err:
            raise InputError(f"{source.label}: row {index}: {err}") from err
    if not lines:
        raise InputError(f"{source.label}: no rows to train on")
    write_atomic(target, "\n".join(lines) + "\n")
    return len(lines)
