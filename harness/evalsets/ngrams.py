"""Word n-gram overlap between texts and a set of eval items, vectorized (pyarrow + numpy).

Normalization is that of lm-eval's decontamination `Janitor` (the GPT-3 paper's 13-gram method): lowercase,
ASCII punctuation deleted (so "don't" becomes "dont", and a lone "-" is no word), words split on whitespace.
Splitting first and normalizing each distinct word after gives the same words, and touches only the batch's
distinct words rather than all of its text. The eval side and the dataset side share `tokenize`.

The eval side is an index in memory: every distinct word gets an id, every n-gram a 64-bit polynomial hash of
its word ids, kept in a sorted numpy array (a hash set numpy probes a whole batch against at once), behind a
one-byte-per-prefix filter that turns most windows away with one look-up. A dataset word that no eval item
has cannot be part of a shared n-gram, so only windows of known words are hashed, and a hash hit is then
confirmed on the words themselves: a collision never marks a row.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

NORMALIZATION = "lm-eval Janitor (GPT-3): lowercase, ASCII punctuation deleted, split on whitespace"
PUNCTUATION = r"[!-/:-@\[-`{-~]"  # string.punctuation, as one regex class
_BASE = 0x9E3779B97F4A7C15  # odd, so invertible mod 2**64
_FILTER_BITS = 24  # a byte per 2**24 hash prefixes: 16 MiB


@dataclass
class Tokens:
    """The normalized words of a batch of texts: text t's words are `codes[offsets[t]:offsets[t + 1]]`, each an
    index into `words` (distinct spellings before normalization, so two codes may hold the same word)."""

    offsets: np.ndarray
    codes: np.ndarray
    words: pa.Array

    def text_of(self, position: int) -> int:
        return int(np.searchsorted(self.offsets, position, side="right")) - 1

    def gram(self, start: int, n: int) -> list[str]:
        return self.words.take(pa.array(self.codes[start : start + n])).to_pylist()


def tokenize(texts: pa.Array) -> Tokens:
    split = pc.utf8_split_whitespace(pc.fill_null(texts.cast(pa.large_string()), ""))
    encoded = pc.dictionary_encode(pc.list_flatten(split))
    normalized = pc.replace_substring_regex(pc.utf8_lower(encoded.dictionary), pattern=PUNCTUATION, replacement="")
    codes = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    offsets = split.offsets.to_numpy(zero_copy_only=False).astype(np.int64)
    offsets = offsets - offsets[0]
    empty = pc.equal(pc.utf8_length(normalized), 0).to_numpy(zero_copy_only=False)
    if empty.any():  # words that were all punctuation are no words
        keep = ~empty[codes]
        offsets = np.concatenate([[0], np.cumsum(keep)])[offsets]
        codes = codes[keep]
    return Tokens(offsets, codes, normalized)


class _Powers:
    """B**i and B**-i mod 2**64 for i < size, grown on demand and kept (every batch needs them)."""

    def __init__(self) -> None:
        self.up = np.ones(0, np.uint64)
        self.down = np.ones(0, np.uint64)

    def get(self, size: int) -> tuple[np.ndarray, np.ndarray]:
        if len(self.up) < size:
            size = max(size, 2 * len(self.up))
            with np.errstate(over="ignore"):
                self.up = np.cumprod(np.full(size, _BASE, np.uint64)) * np.uint64(pow(_BASE, -1, 2**64))
                self.down = np.cumprod(np.full(size, pow(_BASE, -1, 2**64), np.uint64)) * np.uint64(_BASE)
        return self.up[:size], self.down[:size]


_POWERS = _Powers()


def windows(offsets: np.ndarray, ids: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(start, hash) of every window of n words inside one text whose ids are all >= 0 (known words).

    hash(i) = sum_k v[i+k] * B**(n-1-k) with v = id + 1, from one prefix sum: S[j] = sum_{m<j} v[m] * B**-m,
    so (S[i+n] - S[i]) * B**(i+n-1) is the window's hash (mod 2**64). All steps are contiguous slices."""
    total = len(ids)
    if total < n:
        return np.empty(0, np.int64), np.empty(0, np.uint64)
    blocked = ids < 0
    starts_of_texts = offsets[1:-1]
    blocked[starts_of_texts[starts_of_texts < total]] = True  # a window may start a text, not cross into one
    seen = np.cumsum(blocked, dtype=np.int32)
    count = total - n + 1
    valid = seen[n - 1 :] == seen[:count]
    valid &= ids[:count] >= 0
    starts = np.flatnonzero(valid)
    up, down = _POWERS.get(total)
    prefix = np.zeros(total + 1, np.uint64)
    with np.errstate(over="ignore"):  # wrapping arithmetic mod 2**64 is the hash
        values = ids.astype(np.uint64)
        values += np.uint64(1)
        values *= down[:total]
        np.cumsum(values, out=prefix[1:])
        hashes = prefix[n:] - prefix[:count]
        hashes *= up[n - 1 : total]
    return starts, hashes[valid]


@dataclass
class Match:
    item: int  # index of the eval item
    ngram: str  # the shared n-gram, normalized


class NgramIndex:
    """Every n-gram of a list of eval items, with the item each came from (the first, when several share it)."""

    def __init__(self, texts: list[str], n: int) -> None:
        if n < 1:
            raise ValueError(f"--ngram must be at least 1, got {n}")
        self.n = n
        self.texts = texts
        tokens = tokenize(pa.array(texts, pa.large_string()))
        self.vocab: pa.Array = pc.unique(tokens.words)
        ids = self._ids(tokens)
        starts, hashes = windows(tokens.offsets, ids, n)
        items = np.searchsorted(tokens.offsets, starts, side="right") - 1
        order = np.argsort(hashes, kind="stable")  # stable: the first item keeps a shared n-gram
        self.hashes = hashes[order]
        self.items = items[order].astype(np.int32)
        self.filter = np.zeros(1 << _FILTER_BITS, np.bool_)
        self.filter[self.hashes >> np.uint64(64 - _FILTER_BITS)] = True
        self._item_words: dict[int, list[str]] = {}

    @property
    def ngrams(self) -> int:
        return len(self.hashes)

    def _ids(self, tokens: Tokens) -> np.ndarray:
        """Each word's id in the vocabulary, -1 for a word no eval item has (looked up once per distinct word)."""
        found = pc.fill_null(pc.index_in(tokens.words, value_set=self.vocab), -1)
        return found.to_numpy(zero_copy_only=False).astype(np.int64)[tokens.codes]

    def first_matches(self, texts: pa.Array) -> dict[int, Match]:
        """text index -> its first n-gram (in reading order) that an eval item shares, for texts that have one."""
        tokens = tokenize(texts)
        starts, hashes = windows(tokens.offsets, self._ids(tokens), self.n)
        result: dict[int, Match] = {}
        if not len(hashes) or not len(self.hashes):
            return result
        maybe = np.flatnonzero(self.filter[hashes >> np.uint64(64 - _FILTER_BITS)])
        at = np.minimum(np.searchsorted(self.hashes, hashes[maybe]), len(self.hashes) - 1)
        equal = self.hashes[at] == hashes[maybe]
        for hit, position in zip(maybe[equal], at[equal], strict=True):  # few: shared windows, or a collision
            text = tokens.text_of(int(starts[hit]))
            if text in result:
                continue
            gram = tokens.gram(int(starts[hit]), self.n)
            item = self._confirm(gram, int(position), hashes[hit])
            if item is not None:
                result[text] = Match(item, " ".join(gram))
        return result

    def _confirm(self, gram: list[str], at: int, value: np.uint64) -> int | None:
        """The eval item that really has these words among those with this hash; None for a collision."""
        while at < len(self.hashes) and self.hashes[at] == value:
            item = int(self.items[at])
            if _contains(self._words_of(item), gram):
                return item
            at += 1
        return None

    def _words_of(self, item: int) -> list[str]:
        if item not in self._item_words:
            tokens = tokenize(pa.array([self.texts[item]], pa.large_string()))
            self._item_words[item] = tokens.gram(0, len(tokens.codes))
        return self._item_words[item]


def _contains(haystack: list[str], needle: list[str]) -> bool:
    n = len(needle)
    return any(haystack[i : i + n] == needle for i in range(len(haystack) - n + 1))
