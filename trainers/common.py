"""What every trainer adapter shares: loading the model and tokenizer, and TRL's arguments with CPU-safe defaults.

TRL 1.16 configs default to bf16 and gradient checkpointing. On a CPU without bf16 units both slow a step about
tenfold (104 vs 11 s/step measured on this project's AVX2 machine), so both are off on CPU.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.config import TrainConfig
from harness.special_tokens import add_special_tokens
from trainers.chat_template import load_chat_template


def resolve_device(cfg: TrainConfig) -> str:
    import torch

    return cfg.device or ("cuda" if torch.cuda.is_available() else "cpu")


def load_model_and_tokenizer(path: str, cfg: TrainConfig):
    """The model (float32 on CPU, bf16 on a GPU) and its tokenizer, with the recipe's tokens, template and freezes."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    on_gpu = resolve_device(cfg).startswith("cuda")
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.bfloat16 if on_gpu else torch.float32)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    if cfg.special_tokens:
        add_special_tokens(model, tokenizer, cfg.special_tokens)
    if cfg.chat_template is not None:
        tokenizer.chat_template = load_chat_template(cfg.chat_template)
    if cfg.freeze_embeddings:
        freeze_embeddings(model)
    return model, tokenizer


def freeze_embeddings(model) -> None:
    """Input embeddings keep their weights (the Memphis card). A tied LM head is the same tensor: it stays too."""
    model.get_input_embeddings().weight.requires_grad_(False)


def resolve_optim(cfg: TrainConfig) -> tuple[str, str]:
    """The optimizer that runs, and why. bitsandbytes' 8-bit optimizers (the backfill card's `adamw_bnb_8bit`)
    need a GPU and the package; elsewhere plain AdamW runs instead, and the provenance says so."""
    import importlib.util

    if "bnb" not in cfg.optim and "8bit" not in cfg.optim:
        return cfg.optim, "as configured"
    if not resolve_device(cfg).startswith("cuda"):
        return "adamw_torch", f"{cfg.optim} needs a GPU; plain AdamW instead"
    if importlib.util.find_spec("bitsandbytes") is None:
        return "adamw_torch", f"{cfg.optim} needs bitsandbytes, which is not installed; plain AdamW instead"
    return cfg.optim, "as configured"


def max_length_for(model, cfg: TrainConfig) -> int:
    """The recipe's sequence length, capped by what the model can attend to (Memphis: 4096 on a 2048 model)."""
    limit = getattr(model.config, "max_position_embeddings", None)
    return min(cfg.max_length, limit) if isinstance(limit, int) and limit > 0 else cfg.max_length


def trl_args(config_class, cfg: TrainConfig, output_dir: Path, **method_args: Any):
    """`config_class` (SFTConfig, DPOConfig, ...) from the recipe: our names mapped onto TRL's in one place."""
    on_gpu = resolve_device(cfg).startswith("cuda")
    common: dict[str, Any] = {
        "output_dir": str(output_dir),
        "learning_rate": cfg.learning_rate,
        "lr_scheduler_type": cfg.lr_scheduler_type,
        # transformers reads a warmup_steps below 1 as a fraction of all steps
        "warmup_steps": cfg.warmup_ratio if cfg.warmup_ratio is not None else cfg.warmup_steps,
        "optim": resolve_optim(cfg)[0],
        "max_grad_norm": cfg.max_grad_norm,
        "neftune_noise_alpha": cfg.neftune_noise_alpha,  # Trainer's own NEFTune: sft, rank and dpo alike
        "num_train_epochs": cfg.num_train_epochs,
        "max_steps": cfg.max_steps,
        "per_device_train_batch_size": cfg.batch_size,
        "gradient_accumulation_steps": cfg.gradient_accumulation_steps,
        "weight_decay": cfg.weight_decay,
        "seed": cfg.seed,
        "logging_steps": cfg.logging_steps,
        "save_strategy": "steps" if cfg.save_steps else "no",
        "save_steps": cfg.save_steps or 500,
        "save_total_limit": 1,  # checkpoints are for resuming, not for keeping
        "report_to": "none",
        "disable_tqdm": True,  # the stage prints its own progress
        "bf16": on_gpu,
        "fp16": False,
        "gradient_checkpointing": False,  # big models on a GPU: trl_args: {gradient_checkpointing: true}
        "use_cpu": not on_gpu,
        "dataloader_num_workers": 0,
    }
    return config_class(**{**common, **method_args, **cfg.trl_args})
