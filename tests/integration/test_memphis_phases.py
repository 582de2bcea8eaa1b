"""The Memphis-CoT card's rank phase on the default model: its cross-entropy is on the ground truth. (The initial
SFT phase, `loop star --sft-input`, is run in tests/integration/test_loop.py.)"""

from __future__ import annotations

import pytest

from trainers.rank import RankCollator

pytestmark = pytest.mark.slow


def test_the_rank_batch_puts_its_cross_entropy_on_the_gold(default_model):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(default_model.path)
    tokenizer.pad_token = tokenizer.pad_token or tokenizer.eos_token
    prompt = "### User:\n2 + 3?\n\n### Rationale:\n"
    row = {"prompt": prompt, "chosen": "It is 5.\n\n### Answer:\n5", "rejected": "It is 6.\n\n### Answer:\n6"}
    gold = "Two plus three is five.\n\n### Answer:\n5"
    batch = RankCollator(tokenizer, 128)([{**row, "gold": gold}, {**row, "gold": ""}])
    assert batch["input_ids"].shape[0] == 6  # 2 chosen, 2 rejected, 2 ground truths

    def trained_text(i: int) -> str:
        pairs = zip(batch["input_ids"][i].tolist(), batch["labels"][i].tolist(), strict=True)
        ids = [t for t, label in pairs if label != -100]
        return tokenizer.decode(ids, skip_special_tokens=True)

    assert trained_text(4) == gold and trained_text(5) == row["chosen"]  # no gold: the chosen stands in
    assert trained_text(0) == row["chosen"] and trained_text(2) == row["rejected"]
