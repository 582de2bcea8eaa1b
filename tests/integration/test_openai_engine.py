"""The openai engine against a real vLLM server, directly and through a real fault-injecting proxy:
`harness synth` end to end, retries of every fault kind with each row written exactly once, failed requests
as error rows that a rerun (and only a rerun of them) repairs in place, request pacing, and the API key
never leaving the process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
import pytest
import yaml

from harness.artifacts.writer import read_provenance
from harness.engines.base import Request, SamplingParams
from tests.integration.fault_proxy import FaultProxy

pytestmark = pytest.mark.slow

FAKE_KEY = "sk-harness-FAKE-5ecret-7b1e4c9d2a"  # recognisable, so any leak shows up in a grep
SAMPLE = Path(__file__).parents[2] / "harness" / "data" / "backfill_sample.jsonl"


def synth(url: str, model: str, out: Path, *args: str, env: dict[str, str] | None = None, check: bool = True):
    command = [sys.executable, "-m", "harness.cli", "synth", "--engine", "openai", "--base-url", url]
    command += ["--model", model, "--input", "sample", "--output", str(out), *args]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, env=env)
    if check:
        assert result.returncode == 0, result.stderr[-3000:]
    return result


def read(out: Path) -> pl.DataFrame:
    return pl.read_parquet(out / "*.parquet").sort("source_index", "sample_idx")


def assert_each_row_once(df: pl.DataFrame, rows: int, n: int) -> None:
    assert df.height == rows * n
    assert df.select("record_id", "sample_idx").n_unique() == rows * n
    assert df["source_index"].to_list() == [i for i in range(rows) for _ in range(n)]


def test_synth_through_the_server(tmp_path, vllm_server):
    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump({"openai": {"concurrency": 4}, "price_input": 0.5, "price_output": 2.0}))
    out = tmp_path / "run"
    result = synth(vllm_server.url, vllm_server.model_path, out, "--limit", "6", "--n", "2", "--max-tokens", "24",
                   "--config", str(config))  # fmt: skip
    assert "requests" in result.stderr and "cost" in result.stderr
    df = read(out)
    assert_each_row_once(df, 6, 2)
    assert set(df["finish_reason"]) <= {"stop", "length"} and (df["prompt_tokens"] > 100).all()
    assert (df["completion_tokens"] <= 24).all()
    provenance = read_provenance(sorted(out.glob("*.parquet"))[0])
    assert provenance["engine"]["engine"] == "openai" and provenance["engine"]["concurrency"] == 4
    assert provenance["model"]["fingerprint"] == f"openai:{vllm_server.model_path}"
    usage = provenance["engine_usage"]
    assert usage["requests"] == 6 and usage["prompt_tokens"] == df["prompt_tokens"].sum() // 2
    assert usage["completion_tokens"] == df["completion_tokens"].sum()  # per-sample counts add up exactly
    cost = provenance["cost"]  # priced at the server's own token counts
    assert cost["usd"] == pytest.approx((usage["prompt_tokens"] * 0.5 + usage["completion_tokens"] * 2.0) / 1e6)
    assert cost["price_input"] == 0.5 and cost["cost_per_hour"] is None and cost["usd"] > 0


def test_every_fault_is_retried_and_every_row_written_once(tmp_path, vllm_server):
    # The first four attempts get one fault each; after that about a third of all attempts fail.
    shares = {"429": 0.1, "500": 0.1, "hang": 0.05, "drop": 0.1}
    rows, n = 16, 2
    args = ["--limit", str(rows), "--n", str(n), "--max-tokens", "16", "--batch-size", "16", "--concurrency", "8"]
    args += ["--timeout", "10", "--max-retries", "10"]  # hangs cost a timeout each; slow answers must not
    out = tmp_path / "run"
    with FaultProxy(vllm_server.url, script=["429", "500", "hang", "drop"], shares=shares, retry_after=1) as proxy:
        result = synth(proxy.url, vllm_server.model_path, out, *args)
    stats = proxy.stats
    assert {k for k, v in stats.faults.items() if v} == {"429", "500", "hang", "drop"}, stats.faults
    assert stats.gaps_after_429 and min(stats.gaps_after_429) >= 0.95  # Retry-After: 1 was honoured
    # Every request reached the server (once, unless a slow answer outlived the client's timeout and was retried).
    assert len(stats.forwarded) == rows
    df = read(out)
    assert_each_row_once(df, rows, n)
    assert "error" not in set(df["finish_reason"]), result.stderr[-2000:]
    usage = [read_provenance(p)["engine_usage"] for p in out.glob("*.parquet")]
    # One retry per fault at least (more if a slow answer outlived the timeout), and nothing given up.
    assert sum(u["retries"] for u in usage) >= sum(stats.faults.values()) and sum(u["failed"] for u in usage) == 0


def test_failed_requests_become_rows_and_only_they_are_retried(tmp_path, vllm_server):
    instructions = [json.loads(line)["instruction"] for line in SAMPLE.read_text().splitlines()[:6]]
    broken = {instructions[1], instructions[4]}

    def always_500(text: str, attempt: int) -> str | None:
        return "500" if any(json.dumps(i)[1:-1] in text for i in broken) else None

    out = tmp_path / "run"
    args = ["--limit", "6", "--max-tokens", "16", "--batch-size", "3", "--max-retries", "1", "--temperature", "0"]
    with FaultProxy(vllm_server.url, rule=always_500) as proxy:
        first = synth(proxy.url, vllm_server.model_path, out, *args)
    assert "engine errors" in first.stderr
    df = read(out)
    assert_each_row_once(df, 6, 1)
    failed = df.filter(pl.col("finish_reason") == "error")
    assert failed["source_index"].to_list() == [1, 4]
    assert failed["rejection_reason"].to_list() == ["engine_error: HTTP 500 after 2 attempts"] * 2
    assert failed["completion"].to_list() == [None, None] and not failed["valid"].any()
    assert failed["instruction"].to_list() == [instructions[1], instructions[4]]  # inputs kept as given
    shards = sorted(p.name for p in out.glob("*.parquet"))

    with FaultProxy(vllm_server.url) as healthy:
        second = synth(healthy.url, vllm_server.model_path, out, *args)
    assert len(healthy.stats.forwarded) == 2  # only the failed requests were sent again
    assert "retried" in second.stderr and "4 rows were already done" in second.stderr
    again = read(out)
    assert_each_row_once(again, 6, 1)
    assert "error" not in set(again["finish_reason"])
    ok = [0, 2, 3, 5]
    assert again[ok]["completion"].to_list() == df[ok]["completion"].to_list()  # untouched
    assert sorted(p.name for p in out.glob("*.parquet")) == shards  # repaired in place, no new shard
    for shard in out.glob("*.parquet"):  # each shard still in input order
        indexes = pq.read_table(shard, columns=["source_index"]).column("source_index").to_pylist()
        assert indexes == sorted(indexes)


def _run_32_requests_at_30_rpm(vllm_server) -> tuple[list[float], list[float]]:
    """When the rpm limiter released each request, by its own clock, and when each reached the server (sorted)."""
    from harness.engines.openai_engine import OpenAIEngine

    releases = []
    with FaultProxy(vllm_server.url) as proxy:
        engine = OpenAIEngine(vllm_server.model_path, base_url=proxy.url, rpm=30, concurrency=32)
        reserve = engine._rpm.reserve

        def spy(cost: float, now: float) -> float:
            wait = reserve(cost, now)
            releases.append(now + wait)
            return wait

        engine._rpm.reserve = spy
        try:
            requests = [Request(messages=({"role": "user", "content": f"Say {i}."},)) for i in range(32)]
            out = engine.generate(requests, SamplingParams(temperature=0, max_tokens=1))
        finally:
            engine.close()
    assert len(out) == 32 and not any(c.is_error for s in out for c in s)
    return sorted(releases), sorted(t for times in proxy.stats.arrivals.values() for t in times)


def assert_paced(releases: list[float], arrivals: list[float]) -> None:
    # A fresh client may spend a minute's budget (30) at once; the 31st and 32nd wait 2 s each for refills. Taken
    # from the limiter's own clock, this is the bucket's arithmetic (release k = first + 2 s x (k - 29)), which
    # scheduling noise cannot shorten; unpaced, all 32 are released within milliseconds.
    assert len(releases) == 32
    assert releases[30] - releases[0] >= 1.99 and releases[31] - releases[0] >= 3.99
    # And the engine waited for them: no request reached the server before its release. (The k-th earliest
    # arrival is after the k-th earliest release when every request arrives after its own; a late wake-up only
    # makes an arrival later, so this lower bound holds on any machine.)
    assert all(arrival >= release - 0.01 for arrival, release in zip(arrivals, releases, strict=True))


def test_requests_per_minute_are_paced(vllm_server):
    assert_paced(*_run_32_requests_at_30_rpm(vllm_server))


def test_the_pacing_check_fails_with_the_limiter_turned_off(vllm_server, monkeypatch):
    from harness.engines.limits import TokenBucket

    monkeypatch.setattr(TokenBucket, "reserve", lambda self, cost, now: 0.0)  # every request may go at once
    with pytest.raises(AssertionError):
        assert_paced(*_run_32_requests_at_30_rpm(vllm_server))


def test_api_key_is_never_written_or_logged(tmp_path, vllm_server):
    env = {**os.environ, "HARNESS_TEST_KEY": FAKE_KEY, "OPENAI_LOG": "debug"}  # the client's own debug logs too
    out = tmp_path / "run"
    args = ["--limit", "4", "--max-tokens", "8", "--api-key-env", "HARNESS_TEST_KEY", "--max-retries", "2"]
    # A 400 that echoes the Authorization header: the row's error message must not carry the key.
    with FaultProxy(vllm_server.url, script=["leak400", "500"], retry_after=0) as proxy:
        result = synth(proxy.url, vllm_server.model_path, out, *args, env=env)
    assert f"Bearer {FAKE_KEY}" in proxy.stats.authorization  # the key was really sent
    df = read(out)
    assert "[redacted]" in " ".join(df["rejection_reason"].drop_nulls().to_list())

    leaks = [name for name, text in written_text(tmp_path) if FAKE_KEY in text]
    leaks += [f"{stream} line {i}" for stream, text in (("stdout", result.stdout), ("stderr", result.stderr))
              for i, line in enumerate(text.splitlines()) if FAKE_KEY in line]  # fmt: skip
    assert leaks == []
    assert "HTTP Request" in result.stderr or "Request options" in result.stderr  # debug logs were on


def test_a_bad_key_stops_the_run_with_one_clear_line(tmp_path, vllm_server):
    env = {**os.environ, "HARNESS_TEST_KEY": FAKE_KEY}
    out = tmp_path / "run"
    with FaultProxy(vllm_server.url, rule=lambda text, attempt: "401") as proxy:
        started = time.monotonic()
        args = ["--limit", "4", "--api-key-env", "HARNESS_TEST_KEY"]
        result = synth(proxy.url, vllm_server.model_path, out, *args, env=env, check=False)
    assert result.returncode == 2 and time.monotonic() - started < 60  # no retrying an unusable key
    assert "HTTP 401" in result.stderr and "$HARNESS_TEST_KEY" in result.stderr
    assert "Traceback" not in result.stderr and FAKE_KEY not in result.stderr
    assert not list(out.glob("*.parquet"))


def test_an_unknown_model_or_an_unreachable_server_fails_before_any_row(vllm_server):
    from harness.engines.base import EngineError
    from harness.engines.openai_engine import OpenAIEngine
    from harness.engines.vllm_server import free_port

    with pytest.raises(EngineError, match=r"does not serve 'nope'; it serves: .*SmolLM2"):
        OpenAIEngine("nope", base_url=vllm_server.url)
    with pytest.raises(EngineError, match="cannot reach http://127.0.0.1:"):
        OpenAIEngine("m", base_url=f"http://127.0.0.1:{free_port()}/v1", max_retries=1, backoff_base=0.01)


def written_text(root: Path):
    """(path, text) for every file under root; Parquet decoded (its pages are compressed), metadata included."""
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        if path.suffix == ".parquet":
            table = pq.read_table(path)
            text = json.dumps(table.to_pylist(), default=str) + str(table.schema.metadata)
        else:
            text = path.read_bytes().decode("utf-8", errors="replace")
        yield str(path), text
