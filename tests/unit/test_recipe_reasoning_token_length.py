"""The reasoning-token-sft recipe's sequence length holds the turns the Qwen2.5-1.5B-O1 card generates: its
`max_new_tokens=3000` for the reasoning turn and again for the answer, plus the system prompt and question. The
card gives no training sequence length, so the recipe's 8192 is ours; 1024 cut the card's reasoning turn."""

from __future__ import annotations

from pathlib import Path

from harness.stages.train import find_recipe, load_train_config
from tasks.reasoning_token import CARD_MAX_NEW_TOKENS

CARD_USAGE = Path(__file__).parents[1] / "fixtures" / "cards" / "qwen2.5-1.5b-o1-reasoning-token.usage.py.txt"
PROMPT_ALLOWANCE = 512  # the card's system prompt, a question and the four turn headers, generously


def test_the_recipe_holds_the_cards_reasoning_and_answer_turns():
    card = CARD_USAGE.read_text(encoding="utf-8")
    assert card.count("max_new_tokens=3000") == 2 and CARD_MAX_NEW_TOKENS == 3000  # reasoning, then answer
    cfg = load_train_config("sft", "reasoning-token-sft", {"input": "x", "output": "y"})
    assert cfg.max_length >= CARD_MAX_NEW_TOKENS + CARD_MAX_NEW_TOKENS + PROMPT_ALLOWANCE
    assert cfg.max_length == 8192


def test_the_recipe_comment_and_docs_say_why():
    comment = find_recipe("reasoning-token-sft").read_text(encoding="utf-8")
    assert "max_new_tokens=3000" in comment and "gives no training sequence length" in comment
    cards_doc = (Path(__file__).parents[2] / "docs" / "cards.md").read_text(encoding="utf-8")
    [row] = [line for line in cards_doc.splitlines() if line.startswith("| `reasoning-token-sft` |")]
    assert "seq len 8192" in row and "1024" not in row
