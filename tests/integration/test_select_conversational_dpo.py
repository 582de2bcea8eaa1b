"""Conversational pairs (`harness select pairs --conversational`) go through `harness train dpo`'s data path and
TRL's DPOTrainer data preparation (its chat-template tokenization) on the default model; no training step."""

from __future__ import annotations

import pytest

from harness.config import JudgeConfig, SelectConfig, TrainConfig
from harness.stages.judge import run_judge
from harness.stages.select import run_select
from harness.stages.train_rows import training_rows
from tests.unit.judged_samples import backfill_artifact
from tests.unit.test_select_conversational import TRACES

pytestmark = pytest.mark.slow

IM_END = "<|im_end|>"


def test_dpo_trainer_prepares_conversational_pairs(tmp_path, default_model):
    from trl.data_utils import is_conversational, maybe_apply_chat_template

    from trainers.common import load_model_and_tokenizer
    from trainers.dpo import build_dpo

    backfill_artifact(tmp_path / "backfill", TRACES)
    judge = JudgeConfig(input=str(tmp_path / "backfill"), output=str(tmp_path / "j"), judges=["regex"])
    run_judge(judge.model_copy(update={"regex": r"result: (\S+)"}))
    run_select(SelectConfig(mode="pairs", input=str(tmp_path / "j"), output=str(tmp_path / "p"), conversational=True))

    cfg = TrainConfig(method="dpo", input=str(tmp_path / "p"), output=str(tmp_path / "m"), max_steps=1, device="cpu")
    data = training_rows(cfg)
    rows = data.dataset.to_list()
    assert len(rows) == 2 and all(is_conversational(row) for row in rows)
    model, tokenizer = load_model_and_tokenizer(default_model.path, cfg)
    row = rows[0]
    # TRL's own reading of the row: the model's chat template, the prompt ending where the assistant answers.
    text = maybe_apply_chat_template(row, tokenizer)
    assert text["prompt"].startswith("<|im_start|>system\n") and text["prompt"].endswith("<|im_start|>assistant\n")
    assert text["chosen"] == row["chosen"][0]["content"] + IM_END + "\n"
    assert text["rejected"] == row["rejected"][0]["content"] + IM_END + "\n"

    trainer = build_dpo(model, tokenizer, data.dataset, cfg, tmp_path / "checkpoints", [])
    prepared = trainer.train_dataset[0]  # tokenized by DPOTrainer: prompt ids, then each answer's ids
    assert tokenizer.decode(prepared["prompt_ids"]) == text["prompt"]
    assert tokenizer.decode(prepared["chosen_ids"]).startswith(row["chosen"][0]["content"])
    assert tokenizer.decode(prepared["rejected_ids"]).startswith(row["rejected"][0]["content"])
    assert IM_END in tokenizer.decode(prepared["chosen_ids"])
