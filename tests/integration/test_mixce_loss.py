"""MixCE in the memphis-sft recipe takes effect on the path TRL trains through: `Trainer.training_step` ->
our `compute_loss` -> TRL's `SFTTrainer.compute_loss`, which calls the model with `fused_lm_head=True` and sums the
fused head's per-token log-probs. On the same batch of the default model, the recipe's MixCE loss differs from
plain cross-entropy and equals trainers.losses' MixCE formula on the model's own logits; plain CE equals the
formula with ratio 1. One step of `trainer.train()` logs a lower loss with MixCE than without (MixCE's token weight
ratio + (1 - ratio) * p is below 1)."""

from __future__ import annotations

import pytest

pytestmark = [
    pytest.mark.slow,
    pytest.mark.usefixtures("one_torch_thread"),
]  # a step is many times slower on a busy CPU otherwise

ROWS = [
    {"prompt": "### User:\nWhat is 2 + 3?\n\n### Rationale:\n", "completion": "Two plus three is five.\n### Answer: 5"},
    {
        "prompt": "### User:\nWhat is 4 + 4?\n\n### Rationale:\n",
        "completion": "Four and four make eight.\n### Answer: 8",
    },
]
ONE_STEP = {"input": "x", "output": "y", "max_length": 32, "batch_size": 2, "gradient_accumulation_steps": 1}


def memphis_trainer(model_path: str, tmp_path, mixce: bool = True, **overrides):
    """The memphis-sft recipe's trainer (one short step), or with `mixce=False` the same recipe without MixCE."""
    from datasets import Dataset

    from harness.stages.train import load_train_config
    from trainers.common import load_model_and_tokenizer
    from trainers.sft import build_sft

    cfg = load_train_config("sft", "memphis-sft", {**ONE_STEP, **overrides})
    if not mixce:
        cfg = cfg.model_copy(update={"mixce_ratio": None})
    model, tokenizer = load_model_and_tokenizer(model_path, cfg)
    return cfg, build_sft(model, tokenizer, Dataset.from_list(ROWS), cfg, tmp_path, [])


def one_batch_loss(trainer, batch) -> float:
    """The loss `Trainer._inner_training_loop` gets for this batch: its token count, then `training_step`."""
    samples, num_items = trainer.get_batch_samples(iter([batch]), 1, trainer.args.device)
    trainer.current_gradient_accumulation_steps = 1
    loss = trainer.training_step(trainer.model, samples[0], num_items).item()
    trainer.model.zero_grad(set_to_none=True)
    return loss


def formula(trainer, batch, ratio: float) -> float:
    """trainers.losses on the model's full logits for the same batch: -sum of MixCE-weighted log-probs / tokens."""
    import torch

    from trainers.losses import mixce_logprobs, token_logprobs

    inputs = trainer._prepare_inputs(dict(batch))
    with torch.no_grad():
        logits = trainer.model(**{k: v for k, v in inputs.items() if k != "labels"}).logits
    logprobs, mask = token_logprobs(logits, inputs["labels"])
    return (-mixce_logprobs(logprobs, ratio).sum() / mask.sum()).item()


def test_memphis_mixce_changes_the_loss_on_trls_training_path(tmp_path, default_model):
    from transformers import set_seed

    cfg, mixce = memphis_trainer(default_model.path, tmp_path / "mixce", max_steps=1)
    assert cfg.mixce_ratio == 0.75 and type(mixce).__name__ == "MixCETrainer"
    _, plain = memphis_trainer(default_model.path, tmp_path / "plain", mixce=False, max_steps=1)
    assert type(plain).__name__ == "SFTTrainer"

    batch = next(iter(mixce.get_train_dataloader()))
    assert int((batch["labels"] != -100).sum()) > 4  # completion tokens only (the recipe's completion_only_loss)
    mixce.model.train(), plain.model.train()
    expected_mixce, expected_ce = formula(mixce, batch, 0.75), formula(plain, batch, 1.0)
    got_mixce, got_ce = one_batch_loss(mixce, batch), one_batch_loss(plain, batch)
    assert got_ce == pytest.approx(expected_ce, rel=1e-4)
    assert got_mixce == pytest.approx(expected_mixce, rel=1e-4)
    assert got_mixce < 0.95 * got_ce, (got_mixce, got_ce)  # MixCE ran, and by a margin no rounding explains

    # One step of `train()` (NEFTune on, the recipe's alpha 10, the same noise for both): MixCE's loss is logged.
    logged = {}
    for name, trainer in (("mixce", mixce), ("plain", plain)):
        set_seed(cfg.seed)
        trainer.train()
        [logged[name]] = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    assert logged["mixce"] < 0.95 * logged["plain"], logged


def test_a_loss_that_skips_mixce_stops_the_step(tmp_path, default_model):
    """TRL's label-smoothing loss comes from the full logits, not the fused log-probs MixCE reweights: refused when
    the trainer is built, and (set behind its back) stopped at the first step rather than trained as plain CE."""
    from transformers.trainer_pt_utils import LabelSmoother

    with pytest.raises(ValueError, match="mixce_ratio needs TRL's plain cross-entropy"):
        memphis_trainer(default_model.path, tmp_path / "refused", trl_args={"label_smoothing_factor": 0.1})
    _, trainer = memphis_trainer(default_model.path, tmp_path / "mixce")
    trainer.args.label_smoothing_factor = 0.1
    trainer.label_smoother = LabelSmoother(epsilon=0.1)
    batch = next(iter(trainer.get_train_dataloader()))
    with pytest.raises(RuntimeError, match="MixCE was not applied"):
        one_batch_loss(trainer, batch)
