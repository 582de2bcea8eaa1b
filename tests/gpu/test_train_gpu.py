"""`harness train` on a GPU: bf16, real throughput (printed, and bounded loosely), GRPO generating through vLLM
when it is installed. Skipped without CUDA."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from harness.config import TrainConfig
from harness.stages.train import LOG_FILE, run_train

pytestmark = pytest.mark.gpu


def write_rows(path: Path, rows: list[dict]) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def conversations(n: int) -> list[dict]:
    return [
        {
            "messages": [
                {"role": "user", "content": f"What is {i} + {i}? Explain step by step. " * 8},
                {
                    "role": "assistant",
                    "content": f"{i} plus {i} makes {2 * i}, because adding a number to itself doubles it. " * 8,
                },
            ]
        }
        for i in range(n)
    ]


def test_sft_throughput_on_gpu(tmp_path):
    cfg = TrainConfig(
        method="sft",
        input=write_rows(tmp_path / "c.jsonl", conversations(256)),
        output=str(tmp_path / "m"),
        batch_size=16,
        max_length=512,
        max_steps=12,
        assistant_only_loss=True,
        chat_template="chatml",
    )
    summary = run_train(cfg)
    provenance = json.loads((Path(summary.output) / "harness-train.json").read_text())
    assert provenance["result"]["steps"] == 12
    print(f"sft on GPU: {summary.seconds_per_step:.3f} s/step at batch 16 x 512 tokens")
    assert summary.seconds_per_step < 2.0  # a 135M model on any CUDA GPU; CPU takes ~10x this per step


@pytest.mark.skipif(importlib.util.find_spec("vllm") is None, reason="needs vllm")
def test_grpo_generates_with_vllm_on_gpu(tmp_path):
    rows = [
        {"prompt": f"### User:\nWhat is {i} + 3?\n\n### Rationale:\n", "question": f"What is {i} + 3?"}
        for i in range(16)
    ]
    cfg = TrainConfig(
        method="grpo",
        input=write_rows(tmp_path / "p.jsonl", rows),
        output=str(tmp_path / "m"),
        rewards={"structured_references_problem": 1.0},
        num_generations=8,
        batch_size=16,
        max_completion_length=64,
        max_steps=4,
        trl_args={"vllm_gpu_memory_utilization": 0.3},
    )
    summary = run_train(cfg)
    log = [json.loads(line) for line in (Path(summary.output) / LOG_FILE).read_text().splitlines()]
    assert any("reward" in e for e in log)
    print(f"grpo with vLLM: {summary.seconds_per_step:.3f} s/step, 16 prompts x 8 generations x 64 tokens")
