"""LLM judges over the answers to one question: a pointwise score, pairwise preferences, a listwise ranking.

A judge turns one question's group of candidate answers into rounds of requests (`requests`), reads the
replies (`receive`) and gives one result per candidate (`results`). It never calls an engine itself: the judge
stage sends every group's requests of a round in one engine call, through the generation cache. Malformed
replies are results with a reason, never errors.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from harness.engines.base import Request
from judges import judge_parsing as parsing
from judges import judge_prompts as prompts
from judges.calibration import JudgeTally
from judges.tournament import Tournament


@dataclass(frozen=True)
class Candidate:
    question: str | None
    response: str | None  # None: nothing to judge (`missing` says why)
    missing: str = "no answer to judge"


@dataclass
class Result:
    score: float | None
    reason: str
    extra: dict[str, Any] = field(default_factory=dict)  # the judge's own columns (without the prefix)


class GroupJudging(ABC):
    """One question's judging in progress."""

    def __init__(self, kind: str) -> None:
        self.tally = JudgeTally(kind)  # requests and replies; the stage adds the rows' scores

    @abstractmethod
    def requests(self) -> list[Request]:
        """This round's requests; empty when the judging is done."""

    @abstractmethod
    def receive(self, replies: list[str]) -> None:
        """The replies to this round's requests, in order."""

    @abstractmethod
    def results(self) -> list[Result]:
        """One result per candidate, in order (after the last round)."""


class LLMJudge(ABC):
    kind: str
    extra_fields: list[pa.Field] = []  # columns beyond score and reason, named without the judge prefix

    @abstractmethod
    def start(self, group: list[Candidate]) -> GroupJudging: ...

    def settings(self) -> dict[str, Any]:
        """What identifies this judge's results (goes into the artifact's run identity)."""
        return {"kind": self.kind, "prompts": prompts.templates()}


# -- pointwise score -------------------------------------------------------------------------------------
class ScoreJudge(LLMJudge):
    kind = "score"
    extra_fields = [pa.field("output", pa.string())]  # the judge's raw reply, for audits

    def __init__(self, low: int = 1, high: int = 10) -> None:
        if not low < high:
            raise ValueError(f"score scale: low must be below high, got {low}..{high}")
        self.low, self.high = low, high

    def settings(self) -> dict[str, Any]:
        return {**super().settings(), "scale": [self.low, self.high]}

    def start(self, group: list[Candidate]) -> GroupJudging:
        return _Scoring(self, group)


class _Scoring(GroupJudging):
    def __init__(self, judge: ScoreJudge, group: list[Candidate]) -> None:
        super().__init__(judge.kind)
        self.judge, self.group = judge, group
        self.fenced = {i: prompts.fence(c.response) for i, c in enumerate(group) if c.response is not None}
        self.replies: dict[int, str] = {}

    def requests(self) -> list[Request]:
        if self.replies or not self.fenced:
            return []
        self.tally.requests += len(self.fenced)
        return [
            prompts.score_request(self.group[i].question, f, self.judge.low, self.judge.high)
            for i, f in self.fenced.items()
        ]

    def receive(self, replies: list[str]) -> None:
        self.replies = dict(zip(self.fenced, replies, strict=True))

    def results(self) -> list[Result]:
        out = []
        for i, candidate in enumerate(self.group):
            if i not in self.fenced:
                out.append(Result(None, candidate.missing, {"output": None}))
                continue
            reply = self.replies[i]
            parsed = parsing.parse_score(reply, [self.fenced[i]], self.judge.low, self.judge.high)
            self.tally.unparsable += parsed.value is None
            out.append(Result(parsed.value, parsed.reason, {"output": reply}))
        return out


# -- pairwise, both orders -------------------------------------------------------------------------------
class PairwiseJudge(LLMJudge):
    """Every pair of a question's answers, judged in both orders (A/B, then B/A). The two orders agree, or the
    comparison is a tie. A row's score is its share of points: win 1, tie 0.5, loss 0. Cost: K(K-1) requests
    for K answers (use `rank` for large K)."""

    kind = "pairwise"
    extra_fields = [
        pa.field("wins", pa.int32()),
        pa.field("ties", pa.int32()),
        pa.field("losses", pa.int32()),
    ]

    def start(self, group: list[Candidate]) -> GroupJudging:
        return _Pairing(group)


class _Pairing(GroupJudging):
    def __init__(self, group: list[Candidate]) -> None:
        super().__init__("pairwise")
        self.group = group
        judged = [i for i, c in enumerate(group) if c.response is not None]
        self.fenced = {i: prompts.fence(group[i].response) for i in judged}
        self.pairs = [(a, b) for n, a in enumerate(judged) for b in judged[n + 1 :]]
        self.outcomes: dict[tuple[int, int], str | None] = {}  # "a", "b", "tie" or None (unreadable)
        self.done = False

    def requests(self) -> list[Request]:
        if self.done or not self.pairs:
            return []
        self.tally.requests += 2 * len(self.pairs)
        out = []
        for a, b in self.pairs:
            question = self.group[a].question
            out.append(prompts.pairwise_request(question, self.fenced[a], self.fenced[b]))
            out.append(prompts.pairwise_request(question, self.fenced[b], self.fenced[a]))
        return out

    def receive(self, replies: list[str]) -> None:
        self.done = True
        for k, (a, b) in enumerate(self.pairs):
            fenced = [self.fenced[a], self.fenced[b]]
            first = parsing.parse_preference(replies[2 * k], fenced).value  # a shown as A
            second = parsing.parse_preference(replies[2 * k + 1], fenced).value  # b shown as A
            self.tally.unparsable += (first is None) + (second is None)
            self.outcomes[(a, b)] = self._combine(first, second)

    def _combine(self, first: str | None, second: str | None) -> str | None:
        if first is None or second is None:
            return None
        in_first = {"A": "a", "B": "b", "tie": "tie"}[first]
        in_second = {"A": "b", "B": "a", "tie": "tie"}[second]
        self.tally.swap_pairs += 1
        agreed = in_first == in_second
        self.tally.swap_agreed += agreed
        outcome = in_first if agreed else "tie"  # the two orders disagree: position decided it, so a tie
        self.tally.ties += outcome == "tie"
        return outcome

    def results(self) -> list[Result]:
        points: dict[int, list[float]] = {i: [] for i in self.fenced}
        unreadable: dict[int, int] = {i: 0 for i in self.fenced}
        for (a, b), outcome in self.outcomes.items():
            if outcome is None:
                unreadable[a] += 1
                unreadable[b] += 1
                continue
            points[a].append({"a": 1.0, "tie": 0.5, "b": 0.0}[outcome])
            points[b].append({"a": 0.0, "tie": 0.5, "b": 1.0}[outcome])
        out = []
        for i, candidate in enumerate(self.group):
            if i not in self.fenced:
                out.append(Result(None, candidate.missing, {"wins": None, "ties": None, "losses": None}))
                continue
            got = points[i]
            counts = {"wins": got.count(1.0), "ties": got.count(0.5), "losses": got.count(0.0)}
            if not got:
                why = "no other answer to compare with" if len(self.fenced) < 2 else "every comparison unreadable"
                out.append(Result(None, why, counts))
                continue
            reason = f"won {counts['wins']}, tied {counts['ties']}, lost {counts['losses']}"
            if unreadable[i]:
                reason += f"; {unreadable[i]} comparison(s) unreadable"
            out.append(Result(sum(got) / len(got), reason, counts))
        return out


# -- listwise ranking in chunks --------------------------------------------------------------------------
class RankJudge(LLMJudge):
    """All of a question's answers ranked by a knock-out tournament of chunk rankings (judges/tournament.py).
    Score: 1.0 for the best, falling evenly to 0.0 for the last ranked answer."""

    kind = "rank"
    extra_fields = [pa.field("rank", pa.int32())]  # 1 = best

    def __init__(self, chunk_size: int = 8) -> None:
        if chunk_size < 2:
            raise ValueError(f"rank chunk size must be at least 2, got {chunk_size}")
        self.chunk_size = chunk_size

    def settings(self) -> dict[str, Any]:
        return {**super().settings(), "chunk_size": self.chunk_size, "merge": "knock-out tournament"}

    def start(self, group: list[Candidate]) -> GroupJudging:
        return _Ranking(group, self.chunk_size)


class _Ranking(GroupJudging):
    def __init__(self, group: list[Candidate], chunk_size: int) -> None:
        super().__init__("rank")
        self.group = group
        self.fenced = {i: prompts.fence(c.response) for i, c in enumerate(group) if c.response is not None}
        self.tournament = Tournament(list(self.fenced), chunk_size)
        self.chunks: list[list[int]] = []

    def requests(self) -> list[Request]:
        # A chunk of one (an odd answer out) goes on without a request.
        while (chunks := self.tournament.next_chunks()) and all(len(c) == 1 for c in chunks):
            self.tournament.record([[0]] * len(chunks), ["alone in its chunk"] * len(chunks))
        self.chunks = chunks
        asked = [c for c in chunks if len(c) > 1]
        self.tally.requests += len(asked)
        question = self.group[chunks[0][0]].question if chunks else None
        return [prompts.rank_request(question, [self.fenced[i] for i in chunk]) for chunk in asked]

    def receive(self, replies: list[str]) -> None:
        answered = iter(replies)
        parsed = [
            parsing.parse_ranking(next(answered), [self.fenced[i] for i in chunk], len(chunk))
            if len(chunk) > 1
            else parsing.Parsed([0], "alone in its chunk")
            for chunk in self.chunks
        ]
        self.tally.unparsable += sum(p.value is None for p in parsed)
        self.tournament.record([p.value for p in parsed], [p.reason for p in parsed])

    def results(self) -> list[Result]:
        order = self.tournament.order()
        place = {c: r for r, c in enumerate(order, start=1)}
        last = max(len(order) - 1, 1)
        out = []
        for i, candidate in enumerate(self.group):
            if i not in self.fenced:
                out.append(Result(None, candidate.missing, {"rank": None}))
            elif i not in place:
                out.append(Result(None, self.tournament.unranked.get(i, "not ranked"), {"rank": None}))
            else:
                rank = place[i]
                rounds = self.tournament.reached[i][0]
                reason = f"rank {rank} of {len(order)} (reached round {rounds})"
                out.append(Result(1.0 - (rank - 1) / last, reason, {"rank": rank}))
        return out
