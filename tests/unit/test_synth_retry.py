"""The synth stage's error path with a scripted engine: failed requests become `engine_error` rows, a rerun
generates exactly those records again and puts their new rows in place of the failed ones."""

from __future__ import annotations

import polars as pl
import pytest
from rich.console import Console

import harness.engines.session as plumbing
import harness.stages.synth as synth
from harness.artifacts.writer import read_provenance
from harness.config import SamplingOverrides, SynthConfig
from harness.engines.base import Completion, Engine
from harness.engines.models import ResolvedModel

# A trace that passes backfill's checks, the reasoning minimum included.
TRACE = "Reading the instruction, I work through each step and check it against the given solution.<|thinking_end|>"


class Scripted(Engine):
    """Fails the requests whose user turn mentions a broken instruction; answers the rest with a valid trace."""

    name = "scripted"
    batch_size = 4  # static batches through the batching stream: usage grows batch by batch

    def __init__(self, broken: set[str]) -> None:
        self.broken = broken
        self.asked: list[str] = []
        self.requests = 0

    def generate(self, requests, params):
        out = []
        for request in requests:
            user = request.messages[-1]["content"] if request.messages else request.prompt
            self.asked.append(user)
            self.requests += 1
            if any(b in user for b in self.broken):
                out.append(Completion.failed("HTTP 503 after 7 attempts", params.n))
            else:
                out.append([Completion(TRACE, "stop", 10, 5, i) for i in range(params.n)])
        return out

    def usage_totals(self):
        return {"requests": self.requests}


@pytest.fixture
def run(tmp_path, monkeypatch):
    engines: list[Scripted] = []
    monkeypatch.setattr(synth, "_resolve_model", lambda cfg: ResolvedModel("m", "m", "fp", "remote"))

    def go(broken: set[str], task: str = "backfill") -> synth.SynthSummary:
        engine = Scripted(broken)
        engines.append(engine)
        monkeypatch.setattr(plumbing, "make_engine", lambda *a, **k: engine)
        cfg = SynthConfig(
            task=task, input="sample", output=str(tmp_path / "out"), limit=6, shard_rows=8,
            sampling=SamplingOverrides(n=2),
        )  # fmt: skip
        return synth.run_synth(cfg, Console(quiet=True))

    go.engines = engines
    go.out = tmp_path / "out"
    return go


def instruction(i: int) -> str:
    return pl.read_ndjson(synth.bundled_sample())["instruction"][i]


def artifact(out) -> pl.DataFrame:
    return pl.read_parquet(out / "*.parquet").sort("source_index", "sample_idx")


def test_failed_requests_are_rows_and_a_rerun_repairs_exactly_them(run):
    first = run({instruction(1), instruction(5)})
    assert first.rows_out == 12 and first.engine_errors == 4 and first.valid == 8
    df = artifact(run.out)
    assert df.height == 12 and df.select("record_id", "sample_idx").n_unique() == 12
    errors = df.filter(pl.col("finish_reason") == "error")
    assert errors["source_index"].to_list() == [1, 1, 5, 5] and errors["sample_idx"].to_list() == [0, 1, 0, 1]
    assert set(errors["rejection_reason"]) == {"engine_error: HTTP 503 after 7 attempts"}
    assert errors["completion"].to_list() == [None] * 4 and errors["instruction"][0] == instruction(1)
    shards = sorted(p.name for p in run.out.glob("*.parquet"))

    second = run(set())
    assert len(run.engines[1].asked) == 2  # only the two failed records were sent again
    assert second.rows_skipped == 4 and second.retried_rows == 4 and second.engine_errors == 0
    again = artifact(run.out)
    assert again.height == 12 and again.select("record_id", "sample_idx").n_unique() == 12
    assert again["valid"].all() and sorted(p.name for p in run.out.glob("*.parquet")) == shards
    assert again["source_index"].to_list() == [i for i in range(6) for _ in range(2)]

    third = run(set())
    assert third.rows_skipped == 6 and run.engines[2].asked == []


def test_a_retry_that_fails_again_stays_an_error_row_in_place(run):
    run({instruction(0), instruction(4)})
    second = run({instruction(4)})
    assert second.retried_rows == 4 and second.engine_errors == 2
    df = artifact(run.out)
    assert df.height == 12 and df.filter(pl.col("finish_reason") == "error")["source_index"].to_list() == [4, 4]
    run(set())
    assert artifact(run.out)["valid"].all()


def test_engine_usage_since_the_last_commit_goes_into_each_shards_provenance(run):
    summary = run(set())
    shards = sorted(run.out.glob("*.parquet"))
    usage = [read_provenance(p)["engine_usage"] for p in shards]
    assert [u["requests"] for u in usage] == [4, 2] and all(u["engine_seconds"] > 0 for u in usage)
    assert summary.engine_usage["requests"] == 6


def test_a_two_step_task_sends_no_follow_up_for_a_failed_first_step(run):
    summary = run({instruction(2)}, task="reasoning-token")
    asked = run.engines[0].asked
    # 6 first steps, then a follow-up for each of the 2 samples of the 5 records that did not fail
    assert len(asked) == 6 + 10 and sum(instruction(2) in a for a in asked) == 1
    df = artifact(run.out)
    errors = df.filter(pl.col("finish_reason") == "error")
    assert errors["source_index"].to_list() == [2, 2] and summary.engine_errors == 2
    assert set(errors["rejection_reason"]) == {"engine_error: HTTP 503 after 7 attempts"}
    assert df.filter(pl.col("finish_reason") != "error")["completion"].is_not_null().all()


def test_a_run_the_cache_answers_whole_builds_no_engine(run, tmp_path, monkeypatch):
    run(set())  # fills the generation cache
    built = []
    monkeypatch.setattr(plumbing, "make_engine", lambda *a, **k: built.append(1) or Scripted(set()))
    cfg = SynthConfig(
        task="backfill", input="sample", output=str(tmp_path / "again"), limit=6, batch_size=4,
        sampling=SamplingOverrides(n=2),
    )  # fmt: skip
    summary = synth.run_synth(cfg, Console(quiet=True))
    assert built == [] and summary.cache_hits == 6 and summary.rows_out == 12 and summary.generated_tokens == 0
    assert artifact(tmp_path / "again")["completion"].to_list() == artifact(run.out)["completion"].to_list()
    # No engine was built, so the shard records the engine's name rather than its description.
    assert read_provenance(sorted((tmp_path / "again").glob("*.parquet"))[0])["engine"] == "transformers"
