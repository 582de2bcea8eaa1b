"""harness/engines/limits.py: retry backoff with jitter, Retry-After parsing, per-minute token buckets."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from email.utils import format_datetime

import pytest

from harness.engines.limits import RETRY_STATUS, RetryPolicy, TokenBucket, parse_retry_after


def test_retryable_statuses():
    assert {408, 409, 429, 500, 502, 503, 504} <= RETRY_STATUS
    assert not {400, 401, 403, 404, 422} & RETRY_STATUS


def test_backoff_grows_exponentially_under_a_cap_with_full_jitter():
    policy = RetryPolicy(base=0.5, cap=4.0)
    rng = random.Random(0)
    for attempt, ceiling in [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (5, 4.0), (12, 4.0)]:
        draws = [policy.delay(attempt, rng=rng) for _ in range(500)]
        assert min(draws) >= 0 and max(draws) <= ceiling
        assert max(draws) > 0.9 * ceiling and min(draws) < 0.1 * ceiling  # spread over the whole range


def test_retry_after_is_a_floor_and_is_capped():
    policy = RetryPolicy(base=0.5, cap=4.0, max_retry_after=60)
    rng = random.Random(1)
    assert all(policy.delay(1, retry_after=3.0, rng=rng) == 3.0 for _ in range(100))  # never sooner
    assert all(3.0 <= policy.delay(5, retry_after=3.0, rng=rng) <= 4.0 for _ in range(100))
    assert policy.delay(1, retry_after=10_000, rng=rng) == 60


def test_should_retry_counts_failures():
    policy = RetryPolicy(max_retries=2)
    assert [policy.should_retry(a) for a in (1, 2, 3)] == [True, True, False]
    assert not RetryPolicy(max_retries=0).should_retry(1)


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after": "2"}, 2.0),
        ({"retry-after": "0.25"}, 0.25),
        ({"retry-after-ms": "1500"}, 1.5),
        ({"retry-after-ms": "1500", "retry-after": "9"}, 1.5),
        ({"retry-after-ms": "soon", "retry-after": "9"}, 9.0),
        ({"retry-after": "-3"}, 0.0),
        ({"retry-after": "whenever"}, None),
        ({}, None),
        (None, None),
    ],
)
def test_parse_retry_after(headers, expected):
    assert parse_retry_after(headers) == expected


def test_parse_retry_after_http_date():
    now = datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC).timestamp()
    header = format_datetime(datetime(2025, 1, 1, 12, 0, 30, tzinfo=UTC), usegmt=True)
    assert parse_retry_after({"retry-after": header}, now=now) == 30.0
    assert parse_retry_after({"retry-after": header}, now=now + 60) == 0.0


def test_bucket_allows_a_minute_of_budget_then_paces_at_the_rate():
    bucket = TokenBucket(60, now=0.0)  # 1 a second
    assert [bucket.reserve(1, now=0.0) for _ in range(60)] == [0.0] * 60
    assert bucket.reserve(1, now=0.0) == pytest.approx(1.0)
    assert bucket.reserve(1, now=0.0) == pytest.approx(2.0)  # callers queue behind each other
    assert bucket.reserve(1, now=10.0) == 0.0  # 10 s later the queue has drained


def test_bucket_refund_settles_an_estimate():
    bucket = TokenBucket(1000, now=0.0)
    assert bucket.reserve(1000, now=0.0) == 0.0
    assert bucket.reserve(600, now=0.0) == pytest.approx(36.0)
    bucket.refund(600, now=0.0)  # the request used far less than estimated
    assert bucket.reserve(100, now=0.0) == pytest.approx(6.0)


def test_bucket_lets_a_request_larger_than_a_minute_through_alone():
    bucket = TokenBucket(100, now=0.0)
    assert bucket.reserve(5000, now=0.0) == 0.0
    assert bucket.reserve(1, now=0.0) == pytest.approx(0.6)


def test_bucket_refuses_a_non_positive_limit():
    with pytest.raises(ValueError, match="must be > 0"):
        TokenBucket(0, now=0.0)
