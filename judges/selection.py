"""Selecting training data from judged samples."""

from __future__ import annotations

from typing import TypeVar

T = TypeVar("T")


def unique_pairs(correct: list[tuple[str, T]], incorrect: list[tuple[str, T]]) -> list[tuple[T, T]]:
    """(correct, incorrect) pairs for one question, as the Memphis-CoT card builds them.

    Each side is first made unique by its text (the first occurrence is kept); the i-th unique correct response
    is paired with the i-th unique incorrect one, so each response is used at most once, and the extras on the
    longer side are discarded. Items are (text, payload); the payloads are returned.
    """

    def unique(items: list[tuple[str, T]]) -> list[T]:
        seen: set[str] = set()
        kept = []
        for text, payload in items:
            if text not in seen:
                seen.add(text)
                kept.append(payload)
        return kept

    return list(zip(unique(correct), unique(incorrect), strict=False))
