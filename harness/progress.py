"""Live progress for long stages: rows done, rows/s, generated tokens/s, ETA, and for a priced run the spend
so far and projected at the end (harness/cost.py).

On a terminal it is a rich progress bar; elsewhere (CI logs, pipes) one line per committed batch, or for
streaming stages (which advance per finished record) one line every few seconds.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from harness.cost import usd_text

PRINT_EVERY = 5.0  # seconds between log lines of a streaming stage


class StageProgress:
    def __init__(self, label: str, total: int | None, console: Console, tokens: bool = True) -> None:
        self.label, self.total, self.console = label, total, console
        self.show_tokens = tokens  # False for stages that score text rather than generate it
        self.rows = 0
        self.tokens = 0
        self.in_flight: int | None = None  # requests inside the engine, for streaming stages
        self.spend: Callable[[], float] | None = None  # USD this run has spent so far, when priced
        self._printed = 0.0
        self.started = time.perf_counter()
        self._bar: Progress | None = None
        if console.is_terminal:
            self._bar = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[rate]}"),
                TimeRemainingColumn(),
                console=console,
            )
            self._task = self._bar.add_task(label, total=total, rate="")

    def __enter__(self) -> StageProgress:
        self.started = time.perf_counter()
        if self._bar is not None:
            self._bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()

    def note(self, text: str) -> None:
        """A line saying what the stage is doing between batches (loading a model can take minutes)."""
        console = self._bar.console if self._bar is not None else self.console
        console.print(f"[{self.label}] {text}", highlight=False, markup=False, soft_wrap=True)

    @property
    def elapsed(self) -> float:
        return max(time.perf_counter() - self.started, 1e-9)

    def rates(self) -> str:
        text = f"{self.rows / self.elapsed:.2f} rows/s"
        if self.show_tokens:
            text += f"  {self.tokens / self.elapsed:.1f} tok/s"
        text += f"  {self.in_flight} in flight" if self.in_flight is not None else ""
        if self.spend is not None:
            spent = self.spend()
            text += f"  {usd_text(spent)}"
            if self.total and self.rows:
                text += f" (~{usd_text(spent * max(self.total, self.rows) / self.rows)} at the end)"
        return text

    def advance(self, rows: int, tokens: int, in_flight: int | None = None) -> None:
        self.rows += rows
        self.tokens += tokens
        self.in_flight = in_flight
        if self._bar is not None:
            self._bar.update(self._task, advance=rows, rate=self.rates())
            return
        now = time.perf_counter()
        if in_flight is not None and now - self._printed < PRINT_EVERY and self.rows != self.total:
            return  # streaming stages advance per record: a log line every few seconds is enough
        self._printed = now
        eta = ""
        if self.total and self.rows:
            eta = f"  ETA {max(self.total - self.rows, 0) * self.elapsed / self.rows:.0f}s"
        of = f"/{self.total}" if self.total is not None else ""
        self.console.print(
            f"[{self.label}] {self.rows}{of} rows  {self.rates()}{eta}", highlight=False, markup=False, soft_wrap=True
        )
