"""The one loop every model-running stage uses: records in, their requests streamed through the engine, each
finished record handed to a committer that writes shards.

A *record* is one unit of output that must be committed whole: an input row with all its samples and variants
(both steps of a two-step task), or a judge's question group. It is a generator that yields the requests it
needs now (a list of `Ask`), receives their completions (one list of `n` per ask, in the order asked) and
finally returns its result (its output rows). A two-step task yields its first step, then its follow-ups; a
rank tournament yields its rounds. Records are plain functions of their input, so anything can drive them:
`stream_records` here (one engine, a window of requests kept inside it), `run_record` (a plain batch call per
step: a Ray actor, a test).

`stream_records` keeps up to `window` requests inside the engine: it takes a new record from the input only
while there is room, so memory holds the window's records, never the input. The records' completions come
back in any order; each record moves on the moment all of its current asks are answered.

`Committer` collects finished results and writes one shard every `shard_rows` rows or `commit_seconds`
seconds, whichever comes first; a result is never split across shards. What feeds it is up to the caller:
this loop, or a driver collecting results from Ray actors.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Generator, Iterable
from dataclasses import dataclass
from typing import Generic, TypeVar

from harness.engines.base import Completion, EngineStream, Job, Request, SamplingParams

R = TypeVar("R")


@dataclass(frozen=True)
class Ask:
    """One request a record needs, with its sampling."""

    request: Request
    params: SamplingParams


# yields the asks of one step, receives their completions, returns the record's result
RecordRun = Generator[list[Ask], list[list[Completion]], R]


def run_record(record: RecordRun[R], generate: Callable[[list[Request], SamplingParams], list[list[Completion]]]) -> R:
    """Drive one record to its end, each step through `generate` (a batch call; asks grouped by params)."""
    answers: list[list[Completion]] | None = None
    while True:
        try:
            asks = record.send(answers)  # type: ignore[arg-type]  # the first send must be None
        except StopIteration as stop:
            return stop.value
        answers = [[] for _ in asks]
        for params in dict.fromkeys(a.params for a in asks):
            where = [i for i, a in enumerate(asks) if a.params == params]
            for i, out in zip(where, generate([asks[i].request for i in where], params), strict=True):
                answers[i] = out


@dataclass
class _Waiting:
    record: RecordRun
    answers: list[list[Completion] | None]
    missing: int


def stream_records(
    records: Iterable[RecordRun[R]],
    stream: EngineStream,
    window: int,
    finished: Callable[[R], None],
) -> None:
    """Run every record through `stream`, with at most about `window` requests inside the engine (a record's
    next step always enters, so a started record never waits for room); `finished(result)` is called for each
    record as it ends, in the order they end."""
    pending = iter(records)
    waiting: dict[int, _Waiting] = {}
    number = 0

    def advance(key: int, record: RecordRun[R], answers: list[list[Completion]] | None) -> None:
        while True:
            try:
                asks = record.send(answers)  # type: ignore[arg-type]
            except StopIteration as stop:
                finished(stop.value)
                return
            if asks:
                break
            answers = []  # a step that asked nothing is answered at once
        waiting[key] = _Waiting(record, [None] * len(asks), len(asks))
        stream.add([Job((key, i), a.request, a.params) for i, a in enumerate(asks)])

    exhausted = False
    while True:
        while not exhausted and stream.in_flight < window:
            record = next(pending, None)
            if record is None:
                exhausted = True
                break
            advance(number, record, None)
            number += 1
        if not waiting:
            if exhausted:
                return
            continue
        done = stream.wait()
        if not done:
            raise RuntimeError(f"internal: the engine stream holds no request but {len(waiting)} records wait")
        for (key, i), completions in done:
            entry = waiting[key]
            entry.answers[i] = completions
            entry.missing -= 1
            if entry.missing == 0:
                del waiting[key]
                advance(key, entry.record, entry.answers)  # type: ignore[arg-type]


class Committer(Generic[R]):
    """Finished results in, shards out: `write(results)` is called with every `shard_rows` rows' worth of
    results (`rows(result)` counts one), or with what there is once `commit_seconds` have passed since the
    last write, and with the rest at `flush`. A kill loses at most the results not yet written."""

    def __init__(
        self,
        write: Callable[[list[R]], None],
        rows: Callable[[R], int],
        shard_rows: int,
        commit_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.write, self.rows = write, rows
        self.shard_rows, self.commit_seconds, self.clock = shard_rows, commit_seconds, clock
        self.results: list[R] = []
        self.pending_rows = 0
        self.last_write = clock()
        self.shards = 0

    def add(self, result: R) -> None:
        self.results.append(result)
        self.pending_rows += self.rows(result)
        if self.pending_rows >= self.shard_rows or self.clock() - self.last_write >= self.commit_seconds:
            self.flush()

    def flush(self) -> None:
        results, self.results, self.pending_rows = self.results, [], 0
        self.last_write = self.clock()
        if results:
            self.write(results)
            self.shards += 1
