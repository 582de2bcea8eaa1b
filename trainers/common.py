"""What every trainer adapter shares: loading the model and tokenizer, and TRL's arguments with CPU-safe defaults.

TRL 1.16 configs default to bf16 and gradient checkpointing. On a CPU without bf16 units both slow a step about
tenfold (104 vs 11 s/step measured on this project's AVX2 machine), so both are off unless asked for: bf16 is
on by default only on a GPU that supports it (`bf16:`), gradient checkpointing only with `gradient_checkpointing:`.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from harness.config import TrainConfig
from harness.special_tokens import add_special_tokens
from trainers.chat_template import load_chat_template


def resolve_device(cfg: TrainConfig) -> str:
    import torch

    return cfg.device or ("cuda" if torch.cuda.is_available() else "cpu")


def use_bf16(cfg: TrainConfig) -> bool:
    """`bf16:` as set, else on a GPU that has bf16 (Ampere and later), never on a CPU."""
    import torch

    if cfg.bf16 is not None:
        return cfg.bf16
    return resolve_device(cfg).startswith("cuda") and torch.cuda.is_available() and torch.cuda.is_bf16_supported()


def load_model_and_tokenizer(path: str, cfg: TrainConfig):
    """The model (bf16 where `use_bf16`, else float32) and its tokenizer, with the recipe's tokens, template,
    freezes and LoRA adapters."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.bfloat16 if use_bf16(cfg) else torch.float32)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    if cfg.special_tokens:
        add_special_tokens(model, tokenizer, cfg.special_tokens)
    if cfg.chat_template is not None:
        tokenizer.chat_template = load_chat_template(cfg.chat_template)
    if cfg.freeze_embeddings:
        freeze_embeddings(model)
    if cfg.peft is not None:
        from trainers.lora import apply_lora

        model = apply_lora(model, cfg)
    return model, tokenizer


def freeze_embeddings(model) -> None:
    """Input embeddings keep their weights (the Memphis card). A tied LM head is the same tensor: it stays too."""
    model.get_input_embeddings().weight.requires_grad_(False)


def resolve_optim(cfg: TrainConfig) -> tuple[str | None, str]:
    """The optimizer that runs, and why. bitsandbytes' 8-bit optimizers (the backfill card's `adamw_bnb_8bit`)
    need a GPU and the package; elsewhere plain AdamW runs instead, and the provenance says so."""
    import importlib.util

    if cfg.optim is None:
        return None, "TrainingArguments' default"
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
    if cfg.use_liger_kernel and importlib.util.find_spec("liger_kernel") is None:
        raise ValueError("use_liger_kernel needs the liger-kernel package (pip install liger-kernel) and a GPU")
    common: dict[str, Any] = {
        "output_dir": str(output_dir),
        "learning_rate": cfg.learning_rate,
        "lr_scheduler_type": cfg.lr_scheduler_type,
        # transformers reads a warmup_steps below 1 as a fraction of all steps
        "warmup_steps": cfg.warmup_ratio if cfg.warmup_ratio is not None else cfg.warmup_steps,
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
        "report_to": cfg.report_to,
        "disable_tqdm": True,  # the stage prints its own progress
        "bf16": use_bf16(cfg),
        "fp16": False,
        "gradient_checkpointing": cfg.gradient_checkpointing,
        "use_liger_kernel": cfg.use_liger_kernel,
        "use_cpu": not on_gpu,
        "dataloader_num_workers": 0,
        # Across processes (DDP): every trainable parameter gets a gradient in our methods, so DDP need not walk
        # the graph each step looking for ones that do not (transformers' default without checkpointing).
        "ddp_find_unused_parameters": False,
    }
    if (optim := resolve_optim(cfg)[0]) is not None:
        common["optim"] = optim
    return config_class(**{**common, **method_args, **cfg.trl_args})
