"""Training progress and log: each logged step goes to `training_log.jsonl` and to the console with
seconds per step, rows/s (and tokens/s where the trainer counts them) and an ETA."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from rich.console import Console

SHOWN = ("loss", "rank_loss", "ce_loss", "rank_accuracy", "reward", "rewards_mean", "learning_rate")


def make_log_callback(path: Path, label: str, rows_per_step: int, console: Console):
    """A transformers TrainerCallback (built here so transformers is imported only when training)."""
    from transformers import TrainerCallback

    class TrainLog(TrainerCallback):
        def __init__(self) -> None:
            self.started = time.perf_counter()
            self.first_step = 0  # a resumed run counts its speed from where it resumed

        def on_train_begin(self, args, state, control, **kwargs):
            self.started, self.first_step = time.perf_counter(), state.global_step

        def on_log(self, args, state, control, logs=None, **kwargs):
            if not state.is_world_process_zero:  # across processes, the main one keeps the log
                return
            logs = dict(logs or {})
            entry = {"step": state.global_step, "epoch": state.epoch, "time": time.time(), **logs}
            with open(path, "a", encoding="utf-8") as f:
                f.write(json.dumps(entry, default=float) + "\n")
            if "train_runtime" not in logs:  # the final summary entry is printed by the stage
                console.print(self.line(state, logs), highlight=False, markup=False, soft_wrap=True)

        def line(self, state, logs: dict[str, Any]) -> str:
            done = state.global_step - self.first_step
            elapsed = time.perf_counter() - self.started
            per_step = elapsed / done if done else 0.0
            parts = [f"[{label}] step {state.global_step}/{state.max_steps}"]
            parts += [f"{k} {logs[k]:.4g}" for k in SHOWN if isinstance(logs.get(k), int | float)]
            parts.append(f"{per_step:.2f} s/step  {rows_per_step / per_step if per_step else 0:.2f} rows/s")
            tokens = logs.get("num_tokens")  # SFT counts the tokens it has trained on
            if isinstance(tokens, int | float) and per_step and state.global_step:
                parts.append(f"{tokens / state.global_step / per_step:.0f} tok/s")
            if per_step:
                parts.append(f"ETA {(state.max_steps - state.global_step) * per_step:.0f}s")
            return "  ".join(parts)

    return TrainLog()


def read_log(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
