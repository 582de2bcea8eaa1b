"""LoRA (PEFT) for every method: the model is wrapped before its trainer is built, so SFT, DPO, GRPO and the rank
trainer all train adapters the same way (TRL's DPO and GRPO then take the adapter-free model as the reference).

Tokens the recipe adds (`<|reasoning|>`) have new embedding rows that only training can make useful: with
special tokens the embedding layer (and an untied LM head) is trained in full and saved with the adapter
(PEFT's `modules_to_save`; a tied head stays tied). `merge` folds the adapter into the weights and saves a
plain model folder that every engine loads; the adapter itself is kept in `adapter/` beside it.
"""

from __future__ import annotations

from pathlib import Path

from harness.config import PeftSettings, TrainConfig

ADAPTER_FOLDER = "adapter"


def apply_lora(model, cfg: TrainConfig):
    """`model` with LoRA adapters on `cfg.peft.target_modules`; only the adapters (and new tokens' rows) train."""
    from peft import LoraConfig, get_peft_model

    settings: PeftSettings = cfg.peft
    tied = bool(getattr(model.config, "tie_word_embeddings", False))
    to_save = _embedding_modules(model, tied) if cfg.special_tokens and not cfg.freeze_embeddings else None
    config = LoraConfig(
        r=settings.r,
        lora_alpha=settings.lora_alpha or 2 * settings.r,
        lora_dropout=settings.lora_dropout,
        target_modules=settings.target_modules,
        modules_to_save=to_save,
        ensure_weight_tying=tied and bool(to_save),
        task_type="CAUSAL_LM",
    )
    try:
        wrapped = get_peft_model(model, config)
    except ValueError as err:  # e.g. a target module the model does not have
        raise ValueError(f"peft: {err}") from err
    if cfg.gradient_checkpointing:
        wrapped.enable_input_require_grads()  # checkpointed blocks need an input that requires grad
    return wrapped


def _embedding_modules(model, tied: bool) -> list[str]:
    """The short names PEFT matches: the input embeddings, and the LM head when it is a tensor of its own."""
    wanted = [model.get_input_embeddings()] + ([] if tied else [model.get_output_embeddings()])
    names = {id(module): name.rsplit(".", 1)[-1] for name, module in model.named_modules()}
    return [names[id(module)] for module in wanted if module is not None and id(module) in names]


def save_lora(model, tokenizer, folder: Path, merge: bool) -> None:
    """The trained adapter in `folder` (merge=False) or in `folder/adapter/` with the merged model in `folder`."""
    if not merge:
        return  # Trainer.save_model already wrote the adapter (and the tokenizer) into `folder`
    adapter = folder / ADAPTER_FOLDER
    model.save_pretrained(str(adapter))
    tokenizer.save_pretrained(str(adapter))
    for name in ("adapter_model.safetensors", "adapter_config.json", "README.md"):
        (folder / name).unlink(missing_ok=True)  # the folder becomes the merged model's, not the adapter's
    merged = model.merge_and_unload()
    merged.save_pretrained(str(folder))
    tokenizer.save_pretrained(str(folder))
