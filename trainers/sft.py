"""SFT on TRL's SFTTrainer: conversational `messages` rows (loss on assistant turns only with a marked chat
template) or prompt/completion rows; packing, NEFTune, frozen embeddings and the MixCE loss option."""

from __future__ import annotations

from pathlib import Path

from harness.config import TrainConfig
from trainers.chat_template import has_generation_markers
from trainers.common import max_length_for, trl_args
from trainers.losses import mixce_logprobs


def build_sft(model, tokenizer, dataset, cfg: TrainConfig, output_dir: Path, callbacks: list):
    from trl import SFTConfig, SFTTrainer

    if cfg.assistant_only_loss and not has_generation_markers(tokenizer.chat_template):
        raise ValueError(
            "assistant_only_loss needs a chat template with {% generation %} markers; set chat_template: chatml "
            "(the default model's ChatML), reasoning, or a .jinja file"
        )
    args = trl_args(
        SFTConfig,
        cfg,
        output_dir,
        max_length=max_length_for(model, cfg),
        packing=cfg.packing,
        assistant_only_loss=cfg.assistant_only_loss,
        completion_only_loss=cfg.completion_only_loss,
    )
    if cfg.mixce_ratio is not None:
        _check_mixce_applies(args)
    trainer_class = _mixce_trainer(SFTTrainer, cfg.mixce_ratio) if cfg.mixce_ratio is not None else SFTTrainer
    return trainer_class(model=model, args=args, train_dataset=dataset, processing_class=tokenizer, callbacks=callbacks)


def _check_mixce_applies(args) -> None:
    """TRL 1.16 sums the fused LM head's log-probs into the loss only for `loss_type: nll` without label smoothing;
    its other losses (DFT, label smoothing) would leave MixCE out, or mix it with theirs, without a word."""
    if getattr(args, "loss_type", "nll") != "nll" or getattr(args, "label_smoothing_factor", 0.0) > 0:
        raise ValueError(
            "mixce_ratio needs TRL's plain cross-entropy (loss_type nll, no label_smoothing_factor); got loss_type "
            f"{args.loss_type!r}, label_smoothing_factor {args.label_smoothing_factor}"
        )


def _mixce_trainer(base, ratio: float):
    """SFTTrainer whose per-token loss is MixCE's. TRL's loss is -sum(log_probs) / tokens over the fused LM head's
    output (the model called with `fused_lm_head=True`); reweighting those log-probs (trainers.losses.mixce_logprobs)
    changes the loss and nothing else, so TRL's masking, packing and metrics stay as they are. A training step whose
    loss never went through that reweighting (a TRL that computes it another way) fails rather than train plain CE
    under a MixCE recipe (tests/integration/test_mixce_loss.py checks the loss against the formula)."""

    import torch

    class MixCETrainer(base):
        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            reweighted = []

            def forward(**kwargs):
                outputs = model(**kwargs)
                if kwargs.get("fused_lm_head") and getattr(outputs, "log_probs", None) is not None:
                    outputs.log_probs = mixce_logprobs(outputs.log_probs, ratio)
                    reweighted.append(torch.is_grad_enabled())
                return outputs

            result = super().compute_loss(forward, inputs, return_outputs, num_items_in_batch)
            if self.model.training and torch.is_grad_enabled() and not any(reweighted):
                raise RuntimeError(
                    "MixCE was not applied: TRL computed this loss without the fused LM head's log-probs "
                    "(fused_lm_head=True), so mixce_ratio would have no effect"
                )
            return result

    return MixCETrainer
