"""Pure pacing logic for remote engines: retry backoff, `Retry-After`, and requests/tokens-per-minute buckets.

Nothing here does I/O; time and randomness come in as arguments, so the unit tests are exact.
"""

from __future__ import annotations

import email.utils
import random
import time
from dataclasses import dataclass

RETRY_STATUS = frozenset({408, 409, 429}) | frozenset(range(500, 600))


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter, capped; a server's `Retry-After` is a floor, never shortened."""

    max_retries: int = 6  # attempts after the first one
    base: float = 0.5  # seconds: the first backoff is drawn from [0, base]
    cap: float = 30.0  # no single backoff draws from more than [0, cap]
    max_retry_after: float = 300.0  # a server asking for longer than this is not waited for blindly

    def should_retry(self, attempt: int) -> bool:
        """`attempt` counts the failures so far (1 after the first)."""
        return attempt <= self.max_retries

    def delay(self, attempt: int, retry_after: float | None = None, rng: random.Random | None = None) -> float:
        """Seconds to wait before retry number `attempt` (1-based)."""
        ceiling = min(self.cap, self.base * 2 ** (attempt - 1))
        backoff = (rng or random).uniform(0, ceiling)  # full jitter: clients that failed together spread out
        if retry_after is None:
            return backoff
        return max(min(retry_after, self.max_retry_after), backoff)


def parse_retry_after(headers, now: float | None = None) -> float | None:
    """Seconds from `retry-after-ms`, or `Retry-After` as seconds or an HTTP date; None when absent or bad."""
    if headers is None:
        return None
    if (ms := headers.get("retry-after-ms")) is not None:
        try:
            return max(float(ms) / 1000, 0.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - (time.time() if now is None else now), 0.0)


class TokenBucket:
    """A per-minute budget (requests or tokens) that refills continuously.

    `reserve(cost, now)` takes `cost` from the bucket and returns how long to wait before spending it; the
    bucket may go negative, so waiting callers queue fairly instead of all waking at once. `refund` gives
    back an over-estimate (or charges an under-estimate) once the true cost is known.
    """

    def __init__(self, per_minute: float, now: float) -> None:
        if per_minute <= 0:
            raise ValueError(f"a per-minute limit must be > 0, got {per_minute}")
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0
        self.level = self.capacity  # a fresh client may spend a full minute's budget at once
        self.stamp = now

    def _refill(self, now: float) -> None:
        self.level = min(self.capacity, self.level + (now - self.stamp) * self.rate)
        self.stamp = now

    def reserve(self, cost: float, now: float) -> float:
        self._refill(now)
        cost = min(cost, self.capacity)  # one request larger than a minute's budget still goes, alone
        self.level -= cost
        return 0.0 if self.level >= 0 else -self.level / self.rate

    def refund(self, amount: float, now: float) -> None:
        self._refill(now)
        self.level = min(self.capacity, self.level + amount)
