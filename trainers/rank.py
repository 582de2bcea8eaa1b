"""The Memphis card's ranking phase: a small `transformers.Trainer` subclass (TRL has no such trainer).

Each row is (prompt, chosen, rejected): a correct and an incorrect response to one question. The loss is
`rank_weight * PRO ranking loss` over the length-normalised sequence log-probabilities of the two responses
plus cross-entropy on the ground truth, as the card has it: the row's `gold` (the question's reference
rationale and answer, which synth star writes when its input has them), or the chosen response when the row has
none. No loss on the prompt. The losses are in trainers/losses.py.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

from harness.config import TrainConfig
from trainers.common import max_length_for, trl_args
from trainers.losses import IGNORE, mean_nll, ranking_loss, sequence_scores


class RankCollator:
    """Rows -> one batch of 3B sequences, the B chosen, the B rejected, then the B ground truths (`gold`, or the
    chosen when a row has none), right-padded; labels only on the responses. Prompts are tokenized as raw prompts are at generation (with the tokenizer's special tokens);
    each response ends with the end-of-sequence token, so the model learns to stop."""

    def __init__(self, tokenizer, max_length: int) -> None:
        self.tokenizer = tokenizer
        self.max_length = max_length

    def encode(self, prompt: str, response: str) -> tuple[list[int], list[int]]:
        prompt_ids = self.tokenizer(prompt)["input_ids"][-(self.max_length - 1) :]  # keep the question's end
        response_ids = self.tokenizer(response, add_special_tokens=False)["input_ids"] + [self.tokenizer.eos_token_id]
        response_ids = response_ids[: self.max_length - len(prompt_ids)]
        return prompt_ids + response_ids, [IGNORE] * len(prompt_ids) + response_ids

    def __call__(self, rows: list[dict[str, Any]]) -> dict[str, Any]:
        import torch

        encoded = [self.encode(r["prompt"], r["chosen"]) for r in rows]
        encoded += [self.encode(r["prompt"], r["rejected"]) for r in rows]
        encoded += [self.encode(r["prompt"], r.get("gold") or r["chosen"]) for r in rows]
        width = max(len(ids) for ids, _ in encoded)
        pad = self.tokenizer.pad_token_id
        return {
            "input_ids": torch.tensor([ids + [pad] * (width - len(ids)) for ids, _ in encoded]),
            "attention_mask": torch.tensor([[1] * len(ids) + [0] * (width - len(ids)) for ids, _ in encoded]),
            "labels": torch.tensor([labels + [IGNORE] * (width - len(labels)) for _, labels in encoded]),
        }


def rank_trainer_class():
    from transformers import Trainer

    class RankTrainer(Trainer):
        """`compute_loss` is the card's; everything else (optimiser, schedule, checkpoints) is Trainer's."""

        def __init__(self, *args: Any, rank_weight: float, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.rank_weight = rank_weight
            self.model_accepts_loss_kwargs = False  # the loss is a per-batch mean: Trainer scales accumulation
            self._metrics: dict[str, list[float]] = defaultdict(list)

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            labels = inputs["labels"]
            outputs = model(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"], use_cache=False)
            third = labels.shape[0] // 3
            scores = sequence_scores(outputs.logits[: 2 * third], labels[: 2 * third])
            pairs = scores.view(2, third).T  # (pairs, 2): chosen, rejected
            rank = ranking_loss(pairs)
            ce = mean_nll(outputs.logits[2 * third :], labels[2 * third :])  # the ground truth
            loss = self.rank_weight * rank + ce
            margin = (pairs[:, 0] - pairs[:, 1]).detach()
            self._metrics["rank_loss"].append(rank.item())
            self._metrics["ce_loss"].append(ce.item())
            self._metrics["score_margin"].append(margin.mean().item())
            self._metrics["rank_accuracy"].append((margin > 0).float().mean().item())
            return (loss, outputs) if return_outputs else loss

        def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
            if self.model.training and self._metrics:
                logs.update({k: sum(v) / len(v) for k, v in self._metrics.items()})
                self._metrics.clear()
            super().log(logs, start_time)

    return RankTrainer


def build_rank(model, tokenizer, dataset, cfg: TrainConfig, output_dir: Path, callbacks: list):
    from transformers import TrainingArguments

    # The collator reads the raw text columns, so Trainer must not drop them.
    args = trl_args(TrainingArguments, cfg, output_dir, remove_unused_columns=False)
    return rank_trainer_class()(
        model=model,
        args=args,
        train_dataset=dataset,
        processing_class=tokenizer,
        data_collator=RankCollator(tokenizer, max_length_for(model, cfg)),
        callbacks=callbacks,
        rank_weight=cfg.rank_weight,
    )
