"""What the synth benchmarks share: timing two sides in turn, and their medians and tok/s ratio.

Imported by the scripts beside it (`python benchmarks/synth_vllm.py` puts this folder on the path).
"""

from __future__ import annotations

import os
import statistics
from collections.abc import Callable
from typing import Any


def alternate(sides: dict[str, Callable[[], dict[str, Any]]], repeats: int) -> dict[str, list[dict[str, Any]]]:
    """Each side `repeats` times, the first-listed side first on even repetitions and last on odd ones (order
    matters at this scale). Each result (`tokens`, `seconds`) gains tok/s and the 1-minute load after it."""
    results: dict[str, list[dict[str, Any]]] = {name: [] for name in sides}
    for rep in range(repeats):
        for name in list(sides) if rep % 2 == 0 else list(reversed(sides)):
            result = sides[name]()
            result["tok_s"], result["loadavg_1m"] = result["tokens"] / result["seconds"], os.getloadavg()[0]
            results[name].append(result)
        print_rep(rep, repeats, results)
    return results


def print_rep(rep: int, repeats: int, results: dict[str, list[dict[str, Any]]]) -> None:
    print(f"rep {rep + 1}/{repeats}: " + "  ".join(f"{n} {rs[-1]['tok_s']:.1f} tok/s" for n, rs in results.items()))


def summarize(
    results: dict[str, list[dict[str, Any]]],
    baseline: str,
    header: str,
    target: float,
    keys=("tokens", "seconds", "tok_s"),
) -> tuple[dict[str, dict[str, float]], float]:
    """Prints the median of each measure per side and the ratio harness/baseline of median tok/s; returns both."""
    medians = {n: {k: statistics.median(r[k] for r in rs) for k in keys} for n, rs in results.items()}
    ratio = medians["harness"]["tok_s"] / medians[baseline]["tok_s"]
    repeats = len(results["harness"])
    print(f"\nmedian of {repeats} | {header}")
    print(f"{'side':<8} " + " ".join(f"{k:>9}" for k in keys))
    for name, m in medians.items():
        print(f"{name:<8} " + " ".join(f"{m[k]:>9.{DECIMALS.get(k, 2)}f}" for k in keys))
    print(f"ratio harness/{baseline} tok/s: {ratio:.3f} (target >= {target})")
    return medians, ratio


DECIMALS = {"tokens": 0, "seconds": 2, "tok_s": 1, "rows_s": 3}
