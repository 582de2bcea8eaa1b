"""GRPO learns on CPU: over a dozen steps the mean reward of a learnable validator rises.

Too long for CI (8 GRPO steps, about 75 s on 2 cores; measured 0.375 -> 1.0 mean reward): it runs only when HARNESS_LONG_TESTS=1 is set, e.g.
`HARNESS_LONG_TESTS=1 pytest tests/integration/test_train_grpo_learns.py`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from harness.config import TrainConfig
from harness.stages.train import LOG_FILE, run_train

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not os.environ.get("HARNESS_LONG_TESTS"), reason="long: set HARNESS_LONG_TESTS=1"),
]

QUESTIONS = ["What is 17 + 25?", "What is 38 - 12?", "What is 6 × 7?", "What is 81 / 9?"]


def test_grpo_raises_the_references_problem_reward(tmp_path, default_model):
    rows = [{"prompt": f"### User:\n{q}\n\n### Rationale:\n", "question": q} for q in QUESTIONS]
    (tmp_path / "q.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    cfg = TrainConfig(
        method="grpo",
        input=str(tmp_path / "q.jsonl"),
        output=str(tmp_path / "m"),
        rewards={"structured_references_problem": 1.0},  # mention the question's numbers: learnable in a few steps
        num_generations=8,
        batch_size=8,
        max_completion_length=12,
        temperature=1.0,
        learning_rate=2e-5,
        lr_scheduler_type="constant",
        max_steps=8,
        threads=2,
    )
    folder = Path(run_train(cfg).output)
    rewards = [e["reward"] for e in map(json.loads, (folder / LOG_FILE).read_text().splitlines()) if "reward" in e]
    first, last = sum(rewards[:2]) / 2, sum(rewards[-2:]) / 2
    assert last > first, rewards
