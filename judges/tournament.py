"""Ranking K answers with a judge that sees at most C at a time: a knock-out tournament of listwise rankings.

Round 1 splits the K answers into chunks of at most C (sizes as even as possible) and ranks each chunk in one
request; the best of each chunk goes on to the next round; rounds repeat until one chunk remains. Its ranking
is the top of the final order. An answer knocked out earlier is placed after every answer that went further,
then by its place within its chunk: the order is exact within a chunk, approximate between chunks.

Cost: for K answers and chunks of C, about (K - 1) / (C - 1) requests: 62 answers in chunks of 8 take 9
(8 chunks, then the 8 winners), against 1,891 comparisons (3,782 requests in both orders) for a round robin
of pairwise judgments and about K log2 K = 370 for a sort by pairwise comparisons. A chunk whose ranking cannot
be read sends nobody on: its answers stay unranked (null) with the judge's reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field


def chunks(pool: list[int], size: int) -> list[list[int]]:
    """`pool` split in order into ceil(len / size) chunks whose sizes differ by at most one."""
    if size < 2:
        raise ValueError(f"a ranking chunk holds at least 2 answers, got {size}")
    count = -(-len(pool) // size)
    base, extra = divmod(len(pool), count) if count else (0, 0)
    out, start = [], 0
    for i in range(count):
        end = start + base + (1 if i < extra else 0)
        out.append(pool[start:end])
        start = end
    return out


@dataclass
class Tournament:
    """The state of one question's tournament. Candidates are ids (positions in the question's group)."""

    pool: list[int]
    chunk_size: int
    round: int = 0
    # Per candidate: (last round reached, place in its chunk there, chunk index); the final order sorts on these.
    reached: dict[int, tuple[int, int, int]] = field(default_factory=dict)
    unranked: dict[int, str] = field(default_factory=dict)  # candidate -> why it has no rank
    current: list[list[int]] = field(default_factory=list)

    def next_chunks(self) -> list[list[int]]:
        """The chunks to rank this round (none when the tournament is over)."""
        if len(self.pool) <= 1:
            for c in self.pool:
                self.reached[c] = (self.round + 1, 0, 0)  # the winner, or a lone answer: first
            self.pool = []
            self.current = []
            return []
        self.round += 1
        self.current = chunks(self.pool, self.chunk_size)
        return self.current

    def record(self, rankings: list[list[int] | None], reasons: list[str]) -> None:
        """This round's results, one per chunk: positions within the chunk best first, or None (unreadable)."""
        winners = []
        final = len(self.current) == 1
        for index, (chunk, order, reason) in enumerate(zip(self.current, rankings, reasons, strict=True)):
            if order is None:  # nobody goes on; answers ranked in an earlier round keep that place
                self.unranked.update({c: reason for c in chunk if c not in self.reached})
                continue
            for place, position in enumerate(order):
                self.reached[chunk[position]] = (self.round, place, index)
            winners.append(chunk[order[0]])
        if final:  # the last chunk's ranking is the top of the order; nobody goes on
            self.pool = []
            for c in winners:
                self.reached[c] = (self.round + 1, 0, 0)
        else:
            self.pool = winners

    def order(self) -> list[int]:
        """Ranked candidates, best first (unranked ones left out)."""
        return sorted(self.reached, key=lambda c: (-self.reached[c][0], self.reached[c][1], self.reached[c][2]))
