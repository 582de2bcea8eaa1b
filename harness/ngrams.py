"""Word n-gram overlap between texts and a set of eval items, vectorized (pyarrow + numpy).

Normalization is that of lm-eval's decontamination `Janitor` (the GPT-3 paper's 13-gram method): lowercase,
ASCII punctuation deleted (so "don't" becomes "dont"), words split on whitespace. The eval side and the
dataset side go through the same pyarrow kernels, so they can never normalize differently.

The eval side is an index in memory: every distinct word gets an id, every n-gram a 64-bit polynomial hash of
its word ids, kept in a sorted numpy array (a hash set that numpy can probe a whole batch against at once).
A dataset word that no eval item has cannot be part of a shared n-gram, so the dataset side maps its words to
those ids (unknown words break every window that holds them) and hashes only windows of known words. A hash
hit is then confirmed on the words themselves, so a collision can never mark a row.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

NORMALIZATION = "lm-eval Janitor: lowercase, ASCII punctuation deleted, split on whitespace"
PUNCTUATION = r"[!-/:-@\[-`{-~]"  # string.punctuation, as one regex class
_BASE = np.uint64(0x9E3779B97F4A7C15)  # odd, so invertible mod 2**64
_INVERSE = np.uint64(pow(0x9E3779B97F4A7C15, -1, 2**64))
_FILTER_BITS = 24  # a byte per 2**24 hash prefixes: 16 MiB, probed before the sorted array


def words(texts: pa.Array) -> pa.ListArray:
    """Each text's normalized words (a null text has none)."""
    texts = pc.fill_null(texts.cast(pa.large_string()), "")
    lowered = pc.utf8_lower(texts)
    stripped = pc.replace_substring_regex(lowered, pattern=PUNCTUATION, replacement="")
    return pc.utf8_split_whitespace(stripped)


@dataclass
class Windows:
    """The n-gram windows of a batch of texts whose words are all known to the index."""

    text: np.ndarray  # which text (0-based, in the batch) each window is in
    start: np.ndarray  # its first word's position in the batch's flat word list
    hashes: np.ndarray  # uint64


def windows(word_lists: pa.ListArray, ids: np.ndarray, n: int) -> Windows:
    """Hash every window of n consecutive words inside one text whose ids are all >= 0 (known words).

    `ids`: the flat words' ids (-1 for a word the index does not have)."""
    offsets = word_lists.offsets.to_numpy(zero_copy_only=False).astype(np.int64)
    offsets = offsets - offsets[0]
    lengths = np.diff(offsets)
    total = len(ids)
    if total < n:
        return Windows(np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.uint64))
    text_of_word = np.repeat(np.arange(len(lengths)), lengths)
    starts = np.arange(total - n + 1)
    fits = starts + n <= offsets[text_of_word[: total - n + 1] + 1]  # the window ends inside its own text
    unknown = np.concatenate([[0], np.cumsum(ids < 0)])
    known = unknown[starts + n] - unknown[starts] == 0
    starts = starts[fits & known]
    # hash(i) = sum_k v[i+k] * B**(n-1-k), from one prefix sum: S[j] = sum_{m<j} v[m] * B**-m, so that
    # (S[i+n] - S[i]) * B**(i+n-1) is the window's hash (all mod 2**64, where B is invertible as it is odd)
    values = ids.astype(np.uint64) + np.uint64(1)
    with np.errstate(over="ignore"):
        powers = np.cumprod(np.full(total, _BASE, np.uint64)) * _INVERSE  # B**0 .. B**(total-1)
        inverse = np.cumprod(np.full(total, _INVERSE, np.uint64)) * _BASE
        prefix = np.concatenate([np.zeros(1, np.uint64), np.cumsum(values * inverse, dtype=np.uint64)])
        hashes = (prefix[starts + n] - prefix[starts]) * powers[starts + n - 1]
    return Windows(text_of_word[starts], starts, hashes)


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
        word_lists = words(pa.array(texts, pa.large_string()))
        flat = pc.list_flatten(word_lists)
        encoded = pc.dictionary_encode(flat)
        self.vocab: pa.Array = encoded.dictionary
        ids = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)
        found = windows(word_lists, ids, n)
        order = np.argsort(found.hashes, kind="stable")  # stable: the first item keeps a shared n-gram
        self.hashes = found.hashes[order]
        self.items = found.text[order].astype(np.int32)
        # One byte per hash prefix: most windows are turned away by one look-up instead of a binary search.
        self.filter = np.zeros(1 << _FILTER_BITS, np.bool_)
        self.filter[self.hashes >> np.uint64(64 - _FILTER_BITS)] = True
        self.texts = texts
        self._item_words: dict[int, list[str]] = {}

    @property
    def ngrams(self) -> int:
        return len(self.hashes)

    def ids(self, flat_words: pa.Array) -> np.ndarray:
        """Each word's id in the index's vocabulary, -1 for a word no eval item has."""
        found = pc.index_in(flat_words, value_set=self.vocab)
        return pc.fill_null(found, -1).to_numpy(zero_copy_only=False).astype(np.int64)

    def first_matches(self, texts: pa.Array) -> list[Match | None]:
        """For each text, its first n-gram (in reading order) that an eval item shares, or None."""
        word_lists = words(texts)
        flat = pc.list_flatten(word_lists)
        found = windows(word_lists, self.ids(flat), self.n)
        result: list[Match | None] = [None] * len(texts)
        if not len(found.hashes) or not len(self.hashes):
            return result
        maybe = np.flatnonzero(self.filter[found.hashes >> np.uint64(64 - _FILTER_BITS)])
        at = np.minimum(np.searchsorted(self.hashes, found.hashes[maybe]), len(self.hashes) - 1)
        hits = maybe[self.hashes[at] == found.hashes[maybe]]
        at = at[self.hashes[at] == found.hashes[maybe]]
        for hit, position in zip(hits, at, strict=True):  # few: windows an eval item has, or a collision
            text = int(found.text[hit])
            if result[text] is not None:
                continue
            start = int(found.start[hit])
            gram = flat.slice(start, self.n).to_pylist()
            item = self._confirm(gram, int(position), found.hashes[hit])
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
            self._item_words[item] = words(pa.array([self.texts[item]], pa.large_string()))[0].as_py()
        return self._item_words[item]


def _contains(haystack: list[str], needle: list[str]) -> bool:
    n = len(needle)
    return any(haystack[i : i + n] == needle for i in range(len(haystack) - n + 1))
