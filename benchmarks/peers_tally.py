"""The pure arithmetic of benchmarks/peers.py: the server's counters from its /metrics text, and which rows of
a job an output lost or holds more than once. Kept apart from the script so a unit test covers it without a
server or a peer."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping


def parse_counters(text: str) -> dict[str, float]:
    """Prometheus exposition text to {counter name: value summed over its label sets} (`*_total` samples only)."""
    counters: dict[str, float] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        sample, _, value = line.rpartition(" ")
        name = sample.split("{", 1)[0]
        if name.endswith("_total"):
            counters[name] = counters.get(name, 0.0) + float(value)
    return counters


def delta(before: Mapping[str, float], after: Mapping[str, float], name: str) -> int:
    return int(round(after.get(name, 0.0) - before.get(name, 0.0)))


def lost_and_duplicated(expected: Iterable[tuple], got: Iterable[tuple]) -> tuple[int, int]:
    """How many expected rows are missing from `got`, and how many rows of `got` repeat one already there (an
    expected row present 3 times counts 2)."""
    want = set(expected)
    counts = Counter(got)
    lost = len(want - counts.keys())
    duplicated = sum(n - 1 for n in counts.values() if n > 1)
    return lost, duplicated
