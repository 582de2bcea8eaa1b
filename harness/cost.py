"""What a run costs, and the budget `--max-cost` holds it to.

Prices are the user's: USD per million prompt and completion tokens (`--price-input`, `--price-output`: servers
and APIs) and USD per engine-hour (`--cost-per-hour`: a local engine's GPU or machine, model load included).
Each committed shard records a `cost` block, what the work in it cost at those prices; a stage's summary, the
report and the cards add the blocks up. Only freshly generated work is charged: a completion the generation
cache answered cost nothing this time. An unpriced run records no block and shows no figure.

Prices and the budget are no part of an output's identity (they change what a run costs, never what it
writes): a rerun under other prices resumes, and each shard keeps the prices it was charged at.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import astuple, dataclass
from pathlib import Path
from typing import Any, TypeVar

from harness.artifacts.writer import read_provenance

PRICE_KEYS = ("price_input", "price_output", "cost_per_hour")
COST_SETTINGS = (*PRICE_KEYS, "max_cost")  # settings of how much a run may cost, never of what it writes
BUDGET_EXIT = 3  # the CLI's exit code when --max-cost stopped a run: its output is incomplete
T = TypeVar("T")


@dataclass(frozen=True)
class Prices:
    price_input: float | None = None  # USD per million prompt tokens
    price_output: float | None = None  # USD per million completion tokens
    cost_per_hour: float | None = None  # USD per engine-hour

    @classmethod
    def of(cls, cfg: Any) -> Prices:
        """The prices a stage config sets (configs without price fields are unpriced)."""
        return cls(*(getattr(cfg, key, None) for key in PRICE_KEYS))

    @property
    def priced(self) -> bool:
        return any(value is not None for value in astuple(self))

    def usd(self, usage: dict[str, Any]) -> float:
        """What `usage` (prompt_tokens, completion_tokens, engine_seconds, as the engine session counts them) cost."""
        tokens = usage.get("prompt_tokens", 0) * (self.price_input or 0.0)
        tokens += usage.get("completion_tokens", 0) * (self.price_output or 0.0)
        return tokens / 1e6 + usage.get("engine_seconds", 0.0) / 3600 * (self.cost_per_hour or 0.0)

    def block(self, usage: dict[str, Any]) -> dict[str, Any] | None:
        """A shard's (or a run's) `cost` block; None when unpriced."""
        if not self.priced:
            return None
        return {
            "usd": self.usd(usage),
            **dict(zip(PRICE_KEYS, astuple(self), strict=True)),
            "prompt_tokens": usage.get("prompt_tokens", 0),
            "completion_tokens": usage.get("completion_tokens", 0),
            "seconds": round(usage.get("engine_seconds", 0.0), 3),
        }


def add_costs(blocks: Iterable[dict[str, Any] | None]) -> dict[str, Any] | None:
    """The sum of cost blocks: usd, tokens and seconds added, a price kept where every block had the same one
    (else "mixed"). None when there is no block (an unpriced run)."""
    total: dict[str, Any] | None = None
    for block in filter(None, blocks):
        if total is None:
            total = dict(block)
            continue
        for key in ("usd", "prompt_tokens", "completion_tokens", "seconds"):
            total[key] = total.get(key, 0) + block.get(key, 0)
        for key in PRICE_KEYS:
            if total.get(key) != block.get(key):
                total[key] = "mixed"
    return total


def folder_cost(folder: Path) -> dict[str, Any] | None:
    """What every committed shard under `folder` (an artifact, or a loop's or pipeline's folder) cost; shards
    under hidden folders (a corrupt shard set aside, a pipeline's replaced outputs) are no part of it."""
    folder = Path(folder)
    shards = (s for s in sorted(folder.rglob("part-*.parquet")) if not _hidden(s.relative_to(folder)))
    return add_costs(read_provenance(shard).get("cost") for shard in shards)


def spent(folder: Path) -> float:
    """USD the committed shards under `folder` cost (0 when there are none, or none priced)."""
    return (folder_cost(folder) or {}).get("usd", 0.0) if Path(folder).is_dir() else 0.0


def budget_problem(cfg: Any) -> str | None:
    """Why a stage config's budget cannot be kept, or None."""
    if getattr(cfg, "max_cost", None) is None:
        return None
    if not Prices.of(cfg).priced:
        return "--max-cost needs a price to count against it: add --price-input/--price-output or --cost-per-hour"
    if getattr(cfg, "ray", None) is not None:
        return "--max-cost does not work with --ray yet (replicas take their records in bulk); leave one out"
    return None


def _hidden(relative: Path) -> bool:
    return any(part.startswith(".") for part in relative.parts[:-1])


def usd_text(usd: float) -> str:
    """An amount as people read money: cents above a dollar, enough digits below it to not read as zero."""
    if usd >= 1 or usd == 0:
        return f"{usd:.2f} USD"
    return f"{usd:.{max(4, 1 - math.floor(math.log10(usd)))}f} USD"


def describe(block: dict[str, Any] | None) -> str:
    """One line for a summary or a card: the amount and what it was charged for, or `unpriced`."""
    if not block:
        return "unpriced"
    parts = []
    if block.get("price_input") is not None or block.get("price_output") is not None:
        parts.append(f"{block['prompt_tokens']} + {block['completion_tokens']} tokens")
    if block.get("cost_per_hour") is not None:
        parts.append(f"{block['seconds']:.0f} engine-s")
    return f"{usd_text(block['usd'])} ({', '.join(parts)})" if parts else usd_text(block["usd"])


class BudgetReached(Exception):
    """A run that --max-cost stopped, raised where no summary is printed first (a pipeline's stage); the CLI
    says it in one line and exits with BUDGET_EXIT."""


@dataclass
class BudgetStop:
    """Why and where `--max-cost` stopped a run: the budget, what the output cost so far, and the rest."""

    max_cost: float
    spent: float  # USD, the whole output's (earlier runs' shards included)
    rows_left: int | None  # input rows (or questions) not done, when known
    projected: float | None  # USD the whole output would cost when finished, when known

    def message(self, how_to_go_on: str) -> str:
        left = f" with {self.rows_left} left" if self.rows_left is not None else ""
        finish = f"; finishing would cost about {usd_text(self.projected)} in all" if self.projected else ""
        # The next record is projected at the mean so far: a dearer one can take the spend a little past it.
        where = "before passing" if self.spent <= self.max_cost else "at"
        return (
            f"stopped {where} --max-cost {self.max_cost:g} USD: the output has cost {usd_text(self.spent)}"
            f"{left}{finish}. Committed rows are kept, and a rerun with a higher budget or none resumes: {how_to_go_on}"
        )

    def next_budget(self) -> float:
        """A budget that should see the run to its end: the projection with a quarter to spare, rounded up."""
        wanted = (self.projected or 2 * self.spent) * 1.25
        digits = 2 - math.floor(math.log10(wanted)) if wanted > 0 else 2
        return math.ceil(wanted * 10**digits) / 10**digits


class Budget:
    """`--max-cost`: takes a new record only while the output's cost, projected from this run's cost per
    finished record over the records in flight and the next one, stays within the budget. Until a record has
    finished there is no projection: the engine's window is taken (a bounded overshoot, documented)."""

    def __init__(self, max_cost: float | None, prices: Prices, earlier: float, spent: Callable[[], float]) -> None:
        self.max_cost, self.prices, self.earlier, self.spent = max_cost, prices, earlier, spent
        self.started = self.finished = 0
        self.stopped = False

    def projected(self, records: int) -> float:
        """The output's cost once `records` more records than have finished are done."""
        spent = self.spent()
        per_record = spent / self.finished if self.finished else 0.0
        return self.earlier + spent + records * per_record

    def admits_next(self) -> bool:
        if self.max_cost is None:
            return True
        in_flight = self.started - self.finished
        return self.earlier + self.spent() < self.max_cost and self.projected(in_flight + 1) <= self.max_cost

    def gate(self, records: Iterable[T]) -> Iterator[T]:
        """`records`, until the budget would not admit the next one (then `stopped`)."""
        for record in records:
            if not self.admits_next():
                self.stopped = True
                return
            self.started += 1
            yield record

    def done(self) -> None:
        self.finished += 1

    def stop(self, rows_left: int | None) -> BudgetStop | None:
        """What to report when the gate stopped the run; None when it did not."""
        if not self.stopped or self.max_cost is None:
            return None
        projected = self.projected(rows_left) if rows_left is not None and self.finished else None
        return BudgetStop(self.max_cost, self.earlier + self.spent(), rows_left, projected)


class Ledger:
    """One stage run's costs: each shard's block from its engine usage (`charge`), the run's total, the live
    spend (`watch` the engine session) and the budget that gates its records."""

    def __init__(self, cfg: Any, output: Path) -> None:
        from harness.config.base import ConfigError

        if problem := budget_problem(cfg):
            raise ConfigError(problem)
        self.prices = Prices.of(cfg)
        self.total: dict[str, Any] | None = None  # this run's committed shards' blocks, added up
        self._usage: Callable[[], dict[str, Any]] = dict
        max_cost = getattr(cfg, "max_cost", None)
        self.budget = Budget(max_cost, self.prices, spent(output) if max_cost else 0.0, self.spent)

    @property
    def priced(self) -> bool:
        return self.prices.priced

    def watch(self, usage: Callable[[], dict[str, Any]]) -> None:
        """Count the live spend from `usage` (an engine session's, this run's so far)."""
        self._usage = usage

    def spent(self) -> float:
        """USD this run has spent so far, work not yet committed included."""
        return self.prices.usd(self._usage())

    def charge(self, facts: dict[str, Any]) -> dict[str, Any]:
        """A shard's facts with its `cost` block (from its `engine_usage`) added, when the run is priced."""
        block = self.prices.block(facts.get("engine_usage") or {})
        if block is None:
            return facts
        self.total = add_costs([self.total, block])
        return {**facts, "cost": block}
