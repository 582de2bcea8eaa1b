"""The shared streaming loop and committer, with a scripted engine stream that answers out of order."""

from __future__ import annotations

import random

import pytest

from harness.engines.base import BatchingStream, Completion, Engine, EngineStream, Job, Request, SamplingParams
from harness.engines.stream_loop import Ask, Committer, run_record, stream_records

PARAMS = SamplingParams(max_tokens=4)


def chat(text: str) -> Request:
    return Request(messages=({"role": "user", "content": text},))


def answer(request: Request, params: SamplingParams) -> list[Completion]:
    return [Completion(f"{request.messages[-1]['content']}!", "stop", 1, 1, i) for i in range(params.n)]


class Shuffled(EngineStream):
    """Answers a random part of what is inside at each wait, in random order; records the most inside."""

    def __init__(self, seed: int = 0) -> None:
        self.inside: list[Job] = []
        self.rng = random.Random(seed)
        self.most = 0

    def add(self, jobs: list[Job]) -> None:
        self.inside.extend(jobs)
        self.most = max(self.most, len(self.inside))

    @property
    def in_flight(self) -> int:
        return len(self.inside)

    def wait(self):
        self.rng.shuffle(self.inside)
        k = self.rng.randint(1, len(self.inside)) if self.inside else 0
        done, self.inside = self.inside[:k], self.inside[k:]
        return [(j.tag, answer(j.request, j.params)) for j in done]


def two_step(name: str, variants: int):
    """A record like a two-step task: its variants, then a follow-up per first answer."""
    firsts = yield [Ask(chat(f"{name}/{v}"), PARAMS) for v in range(variants)]
    seconds = yield [Ask(chat(f[0].text), PARAMS) for f in firsts]
    return [s[0].text for s in seconds]


def rejected(name: str):
    return [f"{name}: rejected"]
    yield  # a generator that asks nothing


def test_records_get_their_own_answers_in_order_whatever_order_the_engine_answers():
    def make(i: int):
        return rejected(f"r{i}") if i % 5 == 0 else two_step(f"r{i}", 1 + i % 4)

    stream = Shuffled()
    results = []
    stream_records((make(i) for i in range(40)), stream, window=8, finished=results.append)
    expected = [run_record(make(i), _batch) for i in range(40)]
    assert expected[1] == ["r1/0!!", "r1/1!!"]
    assert sorted(results) == sorted(expected)  # every record once, each with its own answers in its order
    assert results != expected  # the engine answered out of order, and records finished out of order
    assert stream.in_flight == 0


def _batch(requests, params):
    return [answer(r, params) for r in requests]


def test_the_window_bounds_what_is_inside_and_what_is_read_from_the_input():
    stream = Shuffled(seed=3)
    taken = []

    def records():
        for i in range(1000):
            taken.append(i)
            yield two_step(f"r{i}", 3)

    seen = []
    stream_records(records(), stream, window=16, finished=lambda r: seen.append(len(taken)))
    # A record is taken only when there is room, so at most `window` records are started and not finished;
    # a started record's next step always enters, so what is inside may go over the window by a few steps.
    assert 16 <= stream.most < 2 * 16
    assert len(seen) == 1000 and all(t - done <= 16 for done, t in enumerate(seen, start=1))


def test_run_record_drives_a_record_with_batch_calls_grouped_by_params():
    calls = []

    def generate(requests, params):
        calls.append((len(requests), params.max_tokens))
        return _batch(requests, params)

    def mixed():
        out = yield [Ask(chat("a"), PARAMS), Ask(chat("b"), SamplingParams(max_tokens=9)), Ask(chat("c"), PARAMS)]
        return [o[0].text for o in out]

    assert run_record(mixed(), generate) == ["a!", "b!", "c!"]
    assert calls == [(2, 4), (1, 9)]


def test_committer_writes_every_n_rows_or_every_t_seconds_and_never_splits_a_result():
    now = [0.0]
    written: list[list[list[str]]] = []
    committer = Committer(written.append, len, shard_rows=5, commit_seconds=60, clock=lambda: now[0])
    committer.add(["a", "a"])
    committer.add(["b", "b", "b", "b"])  # 6 rows >= 5: one shard, the record whole
    committer.add(["c"])
    now[0] = 61.0
    committer.add(["d"])  # a minute since the last shard
    committer.add(["e"])
    committer.flush()
    committer.flush()  # nothing left: no empty shard
    assert written == [[["a", "a"], ["b", "b", "b", "b"]], [["c"], ["d"]], [["e"]]]


def test_batching_stream_groups_by_length_around_the_oldest_and_keeps_params_apart():
    batches = []

    def run(requests, params):
        batches.append(([r.messages[0]["content"] for r in requests], params.max_tokens))
        return _batch(requests, params)

    stream = BatchingStream(run, batch_size=2)
    other = SamplingParams(max_tokens=9)
    stream.add([Job(i, chat("x" * n), PARAMS) for i, n in enumerate([5, 1, 3])] + [Job(9, chat("y"), other)])
    done = []
    while stream.in_flight:
        done += stream.wait()
    # the oldest (5) with its nearest in length (3); then the next oldest (1); other params apart
    assert batches == [(["xxx", "xxxxx"], 4), (["x"], 4), (["y"], 9)]
    assert sorted(tag for tag, _ in done) == [0, 1, 2, 9]


def test_generate_on_top_of_the_stream_keeps_request_order():
    class Echo(Engine):
        name = "echo"
        batch_size = 2

        def generate(self, requests, params):
            return _batch(requests, params)

    class Streamed(Engine):
        name = "streamed"

        def open_stream(self):
            return Shuffled(seed=1)

    requests = [chat("x" * n) for n in (4, 1, 3, 2, 5)]
    want = [f"{'x' * n}!" for n in (4, 1, 3, 2, 5)]
    assert [c[0].text for c in Streamed().generate(requests, PARAMS)] == want
    assert sorted(tag for tag, _ in Echo().stream(Job(i, r, PARAMS) for i, r in enumerate(requests))) == [0, 1, 2, 3, 4]
    with pytest.raises(TypeError, match="must implement open_stream or generate"):

        class Nothing(Engine):
            name = "nothing"

        Nothing()
