"""Report plots read as their numbers: a histogram of whole lengths has whole-number ticks, even when every row
has the same length (issue 18: ticks 17.55 ... 18.45 around a single bar)."""

from __future__ import annotations

from collections import Counter

import pytest

from reports import plots


@pytest.fixture
def figures(monkeypatch):
    made = []

    def keep(fig):
        fig.canvas.draw()
        made.append(fig)
        return b""

    monkeypatch.setattr(plots, "_png", keep)
    return made


@pytest.mark.parametrize("counts", [Counter({18: 16}), Counter({7: 1, 8: 3}), Counter(range(100, 400, 7))])
def test_length_histograms_have_whole_number_ticks(figures, counts):
    plots.histograms({"completion": counts}, {"completion": "tokens"}, "lengths")
    ax = figures[0].axes[0]
    low, high = ax.get_xlim()
    shown = [tick for tick in ax.get_xticks() if low <= tick <= high]
    assert shown and all(float(tick).is_integer() for tick in shown)
    assert min(counts) >= low and max(counts) <= high
