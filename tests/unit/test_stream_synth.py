"""`harness synth` through the streaming loop with an engine that answers out of order and is interrupted:
whole records per shard, nothing lost or written twice on the rerun, two-step follow-ups as soon as a
record's first steps are back."""

from __future__ import annotations

import polars as pl
import pytest
from rich.console import Console

import harness.engines.session as plumbing
import harness.stages.synth as synth
from harness.config import SamplingOverrides, SynthConfig
from harness.engines.base import Completion, Engine
from harness.engines.models import ResolvedModel
from tests.unit.test_stream_loop import Shuffled


class Interrupted(Exception):
    pass


class OutOfOrder(Engine):
    """Answers a random part of what is inside at each wait, in random order; stops after `waits` waits."""

    name = "out-of-order"

    def __init__(self, waits: int | None = None, seed: int = 0) -> None:
        self.waits, self.seed = waits, seed
        self.added: list[str] = []  # "first" or "follow-up", in the order requests entered the engine

    def open_stream(self):
        backend = self

        class Stream(Shuffled):
            def add(self, jobs):
                # first steps ask n=2 samples (the runs below); a follow-up asks one per first sample
                backend.added += ["first" if j.params.n == 2 else "follow-up" for j in jobs]
                super().add(jobs)

            def wait(self):  # a raw prompt has no messages: answer it like a chat
                self.inside = [_as_chat(j) for j in self.inside]
                if backend.waits is not None:
                    if backend.waits == 0:
                        raise Interrupted
                    backend.waits -= 1
                done = super().wait()
                return [(tag, [_valid(c) for c in samples]) for tag, samples in done]

        return Stream(self.seed)


def _as_chat(job):
    if job.request.messages:
        return job
    return type(job)(job.tag, type(job.request)(messages=({"role": "user", "content": "x"},)), job.params)


def _valid(c: Completion) -> Completion:
    return Completion("thinking<|thinking_end|>", "stop", 10, 5, c.sample_idx)


@pytest.fixture
def run(tmp_path, monkeypatch):
    monkeypatch.setattr(synth, "_resolve_model", lambda cfg: ResolvedModel("m", "m", "fp", "remote"))

    def go(engine: OutOfOrder, task: str = "backfill", **settings) -> synth.SynthSummary:
        monkeypatch.setattr(plumbing, "make_engine", lambda *a, **k: engine)
        cfg = SynthConfig(
            task=task, input="sample", output=str(tmp_path / "out"), limit=24, shard_rows=6, window=8,
            sampling=SamplingOverrides(n=2), **settings,
        )  # fmt: skip
        return synth.run_synth(cfg, Console(quiet=True))

    go.out = tmp_path / "out"
    return go


def shards(out) -> list[pl.DataFrame]:
    return [pl.read_parquet(p) for p in sorted(out.glob("*.parquet"))]


def test_interrupted_out_of_order_run_keeps_whole_records_and_the_rerun_completes_it_once(run):
    with pytest.raises(Interrupted):
        run(OutOfOrder(waits=2), cache=False)
    partial = shards(run.out)
    assert partial, "finished records are committed before the interruption"
    kept = {r for df in partial for r in df["record_id"]}
    assert all(df.group_by("record_id").len()["len"].to_list() == [2] * df["record_id"].n_unique() for df in partial)
    assert 0 < len(kept) < 24
    order = [i for df in partial for i in df["source_index"].to_list()]
    assert order != sorted(order) or len(partial) == 1  # records land in the order they finished

    engine = OutOfOrder(seed=1)
    summary = run(engine, cache=False)
    assert summary.rows_skipped == len(kept) and summary.rows_in == 24 - len(kept)
    assert len(engine.added) == 24 - len(kept)  # only the records not committed were asked again
    every = pl.concat(shards(run.out))
    assert every.height == 48 and every.select("record_id", "sample_idx").n_unique() == 48
    assert sorted(set(every["source_index"])) == list(range(24))
    homes = every.group_by("record_id").agg(pl.col("source_index").len().alias("rows"))
    assert homes["rows"].to_list() == [2] * 24
    for df in shards(run.out):  # within a shard rows are in input order, a record's rows together
        assert df["source_index"].to_list() == sorted(df["source_index"].to_list())


def test_the_cache_answers_what_an_interrupted_run_paid_for(run):
    # Two steps: a record whose first step was answered but not its follow-up is not committed; its first step
    # is in the cache, so the rerun pays only for the follow-up.
    with pytest.raises(Interrupted):
        run(OutOfOrder(waits=4), task="reasoning-token")
    again = OutOfOrder(seed=2)
    summary = run(again, task="reasoning-token")
    assert summary.cache_hits > 0
    assert again.added.count("first") < 24 - summary.rows_skipped  # some first steps came from the cache
    assert pl.concat(shards(run.out)).select("record_id", "sample_idx").n_unique() == 48


def test_a_two_step_record_sends_its_follow_ups_without_waiting_for_other_records(run):
    engine = OutOfOrder(seed=3)
    run(engine, task="reasoning-token", cache=False)
    assert engine.added.count("first") == 24 and engine.added.count("follow-up") == 48  # one per sample
    last_first = max(i for i, kind in enumerate(engine.added) if kind == "first")
    assert engine.added.index("follow-up") < last_first  # follow-ups went in while first steps still came in
