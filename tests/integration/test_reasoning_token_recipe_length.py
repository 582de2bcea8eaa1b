"""The reasoning-token-sft recipe on the default model: TRL's SFT data builder keeps a conversation whose
reasoning and answer turns are each just under the card's 3000-token budget whole, with the loss on both turns
to their end."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.slow


def test_a_row_at_the_cards_turn_budgets_is_not_truncated(tmp_path, default_model):
    from datasets import Dataset

    from harness.stages.train import load_train_config
    from tasks.reasoning_token import CARD_MAX_NEW_TOKENS, SYSTEM_PROMPT
    from trainers.common import load_model_and_tokenizer
    from trainers.sft import build_sft

    cfg = load_train_config("sft", "reasoning-token-sft", {"input": "x", "output": "y"})
    model, tokenizer = load_model_and_tokenizer(default_model.path, cfg)

    def turn(word: str) -> str:  # a turn of CARD_MAX_NEW_TOKENS - 1 tokens, as a valid (finished) row's at most
        ids = tokenizer(f" {word}" * CARD_MAX_NEW_TOKENS, add_special_tokens=False)["input_ids"]
        text = tokenizer.decode(ids[: CARD_MAX_NEW_TOKENS - 1])
        assert len(tokenizer(text, add_special_tokens=False)["input_ids"]) == CARD_MAX_NEW_TOKENS - 1
        return text

    messages = [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": "What is 17 times 23? Show every step."},
        {"role": "reasoning", "content": turn("step")},
        {"role": "assistant", "content": turn("answer")},
    ]
    full = tokenizer(tokenizer.apply_chat_template(messages, tokenize=False), add_special_tokens=False)["input_ids"]
    assert len(full) > 2 * CARD_MAX_NEW_TOKENS
    trainer = build_sft(model, tokenizer, Dataset.from_list([{"messages": messages}]), cfg, tmp_path / "ckpt", [])
    row = trainer.train_dataset[0]
    assert row["input_ids"] == full  # nothing cut
    trained = [label for label in row["labels"] if label != -100]
    assert len(trained) == 2 * CARD_MAX_NEW_TOKENS  # both turns, each with its <|im_end|>
    assert tokenizer.decode(trained[-1:]) == "<|im_end|>"
