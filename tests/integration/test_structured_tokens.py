"""The min-token validator on the default model's real tokenizer: the word and byte bounds never over-count."""

from __future__ import annotations

import random
import string

import pytest

from harness.engines.base import Completion
from judges.token_count import NORMALIZER_SHRINK, TokenCounter, _load, has_words
from tasks.structured import StructuredTask

pytestmark = pytest.mark.slow

# Hostile material: punctuation runs, digits, emoji, CJK, combining marks, odd whitespace, fullwidth letters.
PIECES = [
    "word",
    "Mercury",
    "0.39",
    "12345678901234567890",
    "!!!",
    "...",
    "=",
    "=>",
    "(a+b)",
    "🙂🙂",
    "水星",
    "e\u0301",
    "ＡＢＣ",
    "ﬁ",
    "<|im_end|>",
    "<think>",
    "don't",
    "'s",
    "\u200b",
    "ĠĠ",
    "a" * 40,
]
SPACES = [" ", "  ", "\n", "\t", "\r\n", "\u00a0", "\u3000", "\x0b", "\x0c", "\x1f", "\x85", " \n "]


def random_text(rng: random.Random) -> str:
    n = rng.randint(1, 120)
    parts = []
    for _ in range(n):
        piece = (
            rng.choice(PIECES) if rng.random() < 0.7 else "".join(rng.choices(string.printable, k=rng.randint(1, 8)))
        )
        parts.append(piece)
        parts.append(rng.choice(SPACES))
    return "".join(parts).strip()


def test_words_never_exceed_tokens_on_the_default_tokenizer(default_model):
    counter = TokenCounter("default")
    rng = random.Random(4)
    for _ in range(3000):
        text = random_text(rng)
        tokens = counter.count(text)
        words = len(text.split())
        for n in (1, words // 2, words, words + 1, 40, 80):
            if has_words(text, n):
                assert tokens >= n, (text, n, tokens)


def test_at_least_agrees_with_exact_counts(default_model):
    counter = TokenCounter("default")
    rng = random.Random(5)
    for _ in range(500):
        text = random_text(rng)
        tokens = counter.count(text)
        for n in (40, 80):
            enough, count = counter.at_least(text, n)
            assert enough == (tokens >= n), (text, n, tokens)
            assert count in (None, tokens)


def test_the_byte_bound_skips_tokenizing_huge_words(default_model):
    counter = TokenCounter("default")
    longest = _load("default")[1]
    huge = "x" * (80 * longest * NORMALIZER_SHRINK)
    assert counter.at_least(huge, 80) == (True, None)  # answered without tokenizing
    assert counter.count(huge) >= 80


def test_the_task_counts_tokens_with_the_real_tokenizer(default_model):
    """Ten very long words are far more than 40 tokens: a word count alone would reject this planning."""
    long_words = " ".join(["Pneumonoultramicroscopicsilicovolcanoconiosis"] * 10)
    monitoring = "Step 1: 7 x 8 = 56. " * 10
    evaluation = "The product of 7 and 8 is 56, which is option 2, and it matches the computation above. " * 3
    text = (
        f"<think>\n<planning>\n{long_words}\n</planning>\n<monitoring>\n{monitoring}\n</monitoring>\n"
        f"<evaluation>\n{evaluation}\n</evaluation>\n</think>\n<output>\n2\n</output>"
    )
    row = {"question": "What is the value of 7 × 8?", "choices": ["54", "56", "58", "64"], "answer": 1}
    _, verdicts = StructuredTask().parse(row, Completion(text, "stop", 10, 10))
    by_name = {v.name: v for v in verdicts}
    assert by_name["min_tokens"].passed, by_name["min_tokens"]
    _, verdicts = StructuredTask().parse(row, Completion(text.replace(long_words, "Short plan."), "stop", 10, 10))
    assert {v.name: v for v in verdicts}["min_tokens"].reason.startswith("<planning> has 3 tokens, needs 40")
