"""Measuring a loop's rounds: the starting model and each round's model answer the same drawn MMLU questions
(`--eval mmlu --eval-subsets ... --eval-limit N`, one seed), so their accuracies compare; the per-round table
that loop.json, the summary and `harness report` show; which model the loop keeps; when it stops early.

Each measurement is an ordinary `harness eval mmlu` artifact (DIR/start-eval, DIR/round-K/eval): a resumed
loop resumes it, and a finished one is read back without asking the model again.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console

from harness.config import EvalConfig, LoopSettings
from harness.stages.eval_mmlu import run_eval_mmlu

START_EVAL = "start-eval"


def measure(cfg: LoopSettings, model: str, output: Path, console: Console) -> dict[str, Any]:
    """`model`'s MMLU accuracy on the loop's drawn questions, as recorded in loop.json."""
    run = run_eval_mmlu(
        EvalConfig(
            output=str(output),
            model=model,
            subsets=cfg.eval_subsets,
            limit=cfg.eval_limit,
            seed=cfg.eval_seed,
            threads=cfg.threads,
        ),
        console,
    )
    overall = run.summary.overall
    return {"benchmark": cfg.eval, "accuracy": overall.accuracy, "questions": overall.n, "output": str(output)}


def round_table(start: dict[str, Any] | None, rounds: list[Any]) -> list[dict[str, Any]]:
    """One row per model: the start (round 0) and each round (its synth's valid share, training rows, loss)."""
    table = []
    if start:
        table.append({"round": 0, "model": None, "accuracy": start["accuracy"], "questions": start["questions"]})
    for r in rounds:
        table.append(
            {
                "round": r.round,
                "model": r.model_out,
                "accuracy": r.eval.get("accuracy"),
                "questions": r.eval.get("questions"),
                **r.figures(),
                "loss": r.train.get("last_loss"),
            }
        )
    return table


def best_round(rounds: list[Any]) -> Any | None:
    """The measured, trained round with the highest accuracy (the earliest of equals)."""
    measured = [r for r in rounds if r.model_out and r.eval.get("accuracy") is not None]
    return max(measured, key=lambda r: (r.eval["accuracy"], -r.round)) if measured else None


def got_worse(before: dict[str, Any] | None, after: dict[str, Any]) -> str | None:
    """Why the loop stops (`--stop-when-worse`): this round's model scored below the one it started from."""
    if before and after["accuracy"] < before["accuracy"]:
        return f"accuracy fell from {before['accuracy']:.3f} to {after['accuracy']:.3f} (--stop-when-worse)"
    return None
