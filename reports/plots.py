"""PNG plots for reports (matplotlib, Agg backend, imported on first use so `harness --help` stays fast).

Each function takes already-reduced numbers (counters, rates) and returns PNG bytes; none reads data.
"""

from __future__ import annotations

import io
from collections import Counter
from typing import Any

MAX_BINS = 40
FEW_LENGTHS = 8  # lengths spanning fewer than this get one tick each
DPI = 100


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")  # no display; also keeps a user's interactive backend from opening windows
    import matplotlib.pyplot as plt

    return plt


def _png(fig: Any) -> bytes:
    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png", dpi=DPI)
    _pyplot().close(fig)
    return buffer.getvalue()


def pass_rates(labels: list[str], rates: list[float], title: str) -> bytes:
    """Horizontal bars: share of checked rows that passed each rule."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 0.35 * len(labels) + 1.2))
    bars = ax.barh(range(len(labels)), [100 * r for r in rates], color="#4c72b0")
    ax.set_yticks(range(len(labels)), labels)
    ax.invert_yaxis()
    ax.set_xlim(0, 105)
    ax.set_xlabel("passed (% of rows checked)")
    ax.set_title(title)
    ax.bar_label(bars, labels=[f"{100 * r:.0f}%" for r in rates], padding=2, fontsize=8)
    return _png(fig)


def histograms(series: dict[str, Counter[int]], xlabels: dict[str, str], title: str) -> bytes:
    """One histogram per series, side by side; each counter maps a length to its number of rows."""
    plt = _pyplot()
    from matplotlib.ticker import MaxNLocator

    fig, axes = plt.subplots(1, len(series), figsize=(4 * len(series), 3.2), squeeze=False)
    for ax, (name, counts) in zip(axes[0], series.items(), strict=True):
        values, weights = zip(*sorted(counts.items()), strict=True)
        low, high = min(values), max(values)
        bins = min(MAX_BINS, high - low + 1)  # one bin per length while they fit, centred on it
        ax.hist(values, bins=bins, range=(low - 0.5, high + 0.5), weights=weights, color="#55a868", edgecolor="white")
        if high - low < FEW_LENGTHS:  # a locator would put fractional ticks around one or two lengths
            ax.set_xticks(range(low, high + 1))
            ax.set_xlim(low - 1.5, high + 1.5)
        else:
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel(xlabels[name])
        ax.set_ylabel("rows")
        ax.set_title(f"{name} (n={sum(weights)}, median {_median(counts)})", fontsize=10)
    fig.suptitle(title, fontsize=11)
    return _png(fig)


def score_bars(histogram: Counter[str], undecided: int, title: str) -> bytes:
    """Bars per score value (in numeric order), and one for rows the judge could not decide."""
    plt = _pyplot()
    keys = sorted(histogram, key=float)
    labels, counts = [*keys], [histogram[k] for k in keys]
    if undecided:
        labels.append("undecided")
        counts.append(undecided)
    fig, ax = plt.subplots(figsize=(max(4, 0.6 * len(labels) + 2), 3))
    colors = ["#8172b2"] * len(keys) + ["#c44e52"] * bool(undecided)
    bars = ax.bar(range(len(labels)), counts, color=colors)
    ax.set_xticks(range(len(labels)), labels)
    ax.bar_label(bars, fontsize=8)
    ax.set_xlabel("score")
    ax.set_ylabel("rows")
    ax.set_title(title, fontsize=10)
    return _png(fig)


def subject_accuracy(subjects: list[str], accuracy: list[float], stderr: list[float], title: str) -> bytes:
    """Per-subject accuracy with stderr error bars, in the table's order."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 0.35 * len(subjects) + 1.2))
    ax.barh(range(len(subjects)), [100 * a for a in accuracy], xerr=[100 * e for e in stderr], color="#dd8452")
    ax.set_yticks(range(len(subjects)), subjects)
    ax.invert_yaxis()
    ax.axvline(25, color="#888", linestyle="--", linewidth=1, label="chance (25%)")
    ax.set_xlim(0, 100)
    ax.set_xlabel("accuracy (%) ± stderr")
    ax.set_title(title, fontsize=10)
    ax.legend(loc="lower right", fontsize=8)
    return _png(fig)


def _median(counts: Counter[int]) -> int:
    half, seen = sum(counts.values()) / 2, 0
    for value in sorted(counts):
        seen += counts[value]
        if seen >= half:
            return value
    return 0


def accuracy_by_round(series: dict[str, tuple[list[int], list[float]]], title: str) -> bytes:
    """One line per loop: accuracy (%) of the starting model (round 0) and of each round's model."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 4))
    for label, (rounds, accuracy) in series.items():
        ax.plot(rounds, [100 * a for a in accuracy], marker="o", label=label)
    ax.axhline(25, color="#888", linestyle="--", linewidth=1, label="chance (25%)")
    ax.set_xticks(sorted({r for rounds, _ in series.values() for r in rounds}))
    ax.set_xlabel("round (0: the starting model)")
    ax.set_ylabel("accuracy (%)")
    ax.set_ylim(0, 100)
    ax.set_title(title, fontsize=10)
    ax.legend(loc="lower right", fontsize=8)
    return _png(fig)
