"""GRPO on TRL's GRPOTrainer: reward functions (our validators and verifiers) with weights, generation through
transformers on CPU and through vLLM (colocated) on a GPU where it is installed."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path

from harness.config import TrainConfig
from trainers.common import resolve_device, trl_args


def use_vllm(cfg: TrainConfig) -> bool:
    if cfg.generation_engine == "vllm":
        return True
    on_gpu = resolve_device(cfg).startswith("cuda")
    return cfg.generation_engine == "auto" and on_gpu and importlib.util.find_spec("vllm") is not None


def build_grpo(model, tokenizer, dataset, cfg: TrainConfig, output_dir: Path, callbacks: list, rewards: list[Callable]):
    from trl import GRPOConfig, GRPOTrainer

    vllm = {"use_vllm": True, "vllm_mode": "colocate"} if use_vllm(cfg) else {}
    args = trl_args(
        GRPOConfig,
        cfg,
        output_dir,
        num_generations=cfg.num_generations,
        max_completion_length=cfg.max_completion_length,
        temperature=cfg.temperature,
        top_p=cfg.top_p,
        reward_weights=list(cfg.rewards.values()),
        **vllm,
    )
    return GRPOTrainer(
        model=model,
        reward_funcs=rewards,
        args=args,
        train_dataset=dataset,
        processing_class=tokenizer,
        callbacks=callbacks,
    )
