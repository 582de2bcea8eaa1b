"""Per-judge counts for a judge run's calibration summary (`DIR/judge_summary.json`).

Each committed shard stores the tally of its own rows in its provenance, so the summary of a resumed run is
the sum over the artifact's shards: rows lost with an uncommitted shard are never counted.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any


@dataclass
class JudgeTally:
    kind: str  # verifier, score, pairwise or rank
    rows: int = 0
    scored: int = 0  # rows with a score
    unparsable: int = 0  # verifier: predictions it could not read; LLM judges: replies that said nothing usable
    ties: int = 0  # pairwise: comparisons judged a tie, disagreements between the two orders included
    swap_pairs: int = 0  # pairwise: comparisons whose two orders were both read
    swap_agreed: int = 0  # ... of which the two orders named the same winner (or both a tie)
    requests: int = 0  # judge requests (cache hits included: the run's cost when nothing is cached)
    context_overflow: int = 0  # LLM judges: rows left unscored, their request past the model's context
    histogram: dict[str, int] = field(default_factory=dict)

    def add_score(self, score: float | None) -> None:
        self.rows += 1
        if score is not None:
            self.scored += 1
            key = f"{score:g}"
            self.histogram[key] = self.histogram.get(key, 0) + 1

    def merge(self, other: JudgeTally) -> None:
        for name in COUNTS:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for key, count in other.histogram.items():
            self.histogram[key] = self.histogram.get(key, 0) + count

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> JudgeTally:
        return cls(**data)

    def summary(self) -> dict[str, Any]:
        """The cross-team contract's record for one judge."""
        pairwise = self.kind == "pairwise"
        return {
            "kind": self.kind,
            "rows": self.rows,
            "scored": self.scored,
            "unparsable": self.unparsable,
            "ties": self.ties if pairwise else None,
            "position_swap_agreement": (self.swap_agreed / self.swap_pairs if self.swap_pairs else None)
            if pairwise
            else None,
            "score_histogram": dict(sorted(self.histogram.items(), key=lambda kv: float(kv[0]))),
            "requests": self.requests,
            "context_overflow": self.context_overflow,
        }


COUNTS = tuple(f.name for f in fields(JudgeTally) if f.type == "int")  # what `merge` adds up


def describe(summary: dict[str, Any]) -> str:
    """One judge's summary record as one line. A verifier scores an answer it cannot read 0 (as TRL's rewards
    do), so those rows are among the scored ones; an LLM judge's unreadable reply leaves its row unscored."""
    line = f"{summary['scored']}/{summary['rows']} scored"
    if unparsable := summary["unparsable"]:
        if summary["kind"] == "verifier":
            line += f" ({unparsable} of them 0 because the answer could not be read)"
        else:
            line += f", {unparsable} replies could not be read"
    if summary["ties"] is not None:
        line += f", {summary['ties']} ties"
    if summary["position_swap_agreement"] is not None:
        line += f", swap agreement {summary['position_swap_agreement']:.0%}"
    if past := summary.get("context_overflow"):  # absent from summaries written before it was counted
        line += f", {past} past the model's context"
    return line
