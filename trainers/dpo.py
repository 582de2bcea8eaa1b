"""DPO on TRL's DPOTrainer, on (prompt, chosen, rejected) rows: the star pairs artifact as it is."""

from __future__ import annotations

from pathlib import Path

from harness.config import TrainConfig
from trainers.common import max_length_for, trl_args


def build_dpo(model, tokenizer, dataset, cfg: TrainConfig, output_dir: Path, callbacks: list):
    from trl import DPOConfig, DPOTrainer

    # The reference model is a frozen copy TRL makes of `model` (ref_model=None).
    args = trl_args(DPOConfig, cfg, output_dir, max_length=max_length_for(model, cfg), beta=cfg.beta)
    return DPOTrainer(model=model, args=args, train_dataset=dataset, processing_class=tokenizer, callbacks=callbacks)
