"""Cheap "at least N tokens" checks with a real tokenizer, which is loaded once and only when needed.

Validators ask "does this section have at least N tokens?", not "how many tokens exactly?". Two bounds answer
most sections without tokenizing anything:

- words: byte-level BPE tokenizers (GPT-2, Qwen2, SmolLM2, Llama 3) pre-split text so that no token spans the
  whitespace between two words and no word vanishes, so N whitespace-separated words are at least N tokens
  (tests/unit/test_structured_tokens.py checks it on the default tokenizer with hostile text);
- bytes: no token covers more bytes than the longest vocabulary entry, so a text of B bytes is at least
  B / longest tokens (divided by 4 more, for normalizers such as NFC/NFKC that can shrink text). This keeps a
  huge section with few "words" (hostile output) from being tokenized.

Only sections that fall short of both bounds are tokenized, and those are small by construction.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

DEFAULT_TOKENIZER = "default"  # the default model's tokenizer (SmolLM2-135M-Instruct), via harness.engines.models
# str.split() treats these as whitespace, but Unicode (and so the tokenizers' pre-split) does not.
NOT_UNICODE_SPACE = ("\x1c", "\x1d", "\x1e", "\x1f")
NORMALIZER_SHRINK = 4  # NFKC maps a 3-byte fullwidth letter to 1 byte, NFC 3 jamo (9 bytes) to one syllable (3)


def has_words(text: str, n: int) -> bool:
    """True when `text` holds at least `n` whitespace-separated words; cost grows with n, not len(text)."""
    if n <= 0:
        return True
    if len(text.split(None, n - 1)) < n:
        return False
    return not any(c in text for c in NOT_UNICODE_SPACE)


class TokenCounter:
    """Counts tokens with a tokenizer given by path ("default": the default model's), or with a plain function
    (tests, or a tokenizer the caller already holds). A path's tokenizer is loaded on first use, once per
    process, and never pickled (TRL may send rewards to other processes: they load it again there)."""

    def __init__(self, tokenizer: str | Callable[[str], int] = DEFAULT_TOKENIZER) -> None:
        self.spec = tokenizer

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TokenCounter) and other.spec == self.spec

    def __hash__(self) -> int:
        return hash(self.spec)

    def __repr__(self) -> str:
        return f"TokenCounter({self.spec!r})"

    def count(self, text: str) -> int:
        return self.spec(text) if callable(self.spec) else _load(self.spec)[0](text)

    def at_least(self, text: str, n: int) -> tuple[bool, int | None]:
        """(has >= n tokens, the exact count when one was needed). Tokenizes only when both bounds fall short."""
        if has_words(text, n):
            return True, None
        if not callable(self.spec):  # a plain function has no vocabulary, so no byte bound
            longest = _load(self.spec)[1]
            if len(text.encode("utf-8", "replace")) >= n * longest * NORMALIZER_SHRINK:
                return True, None
        count = self.count(text)
        return count >= n, count


@lru_cache(maxsize=8)
def _load(spec: str) -> tuple[Callable[[str], int], int]:
    """(count function, bytes of the longest vocabulary entry) for a tokenizer path."""
    from transformers import AutoTokenizer

    path = spec
    if spec == DEFAULT_TOKENIZER:
        from harness.engines.models import resolve_model

        path = resolve_model("default").path
    tokenizer = AutoTokenizer.from_pretrained(path)
    # Added/special tokens are in the vocabulary too, and vocabulary strings spell each byte with one or more
    # bytes: both can only over-estimate the longest token, which weakens the bound but never breaks it.
    longest = max(len(token.encode("utf-8")) for token in tokenizer.get_vocab())
    return (lambda text: len(tokenizer(text, add_special_tokens=False)["input_ids"])), longest
