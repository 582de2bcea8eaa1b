"""Lending an engine built once (a session fixture, a benchmark's warmed-up engine) to a stage run.

Stages build their engine through `harness.engines.session.make_engine` and close it when they finish; a
borrowed engine passes everything through but `close`, so the lender keeps using it afterwards.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import harness.engines.session as plumbing

if TYPE_CHECKING:  # benchmarks import this module without pytest
    import pytest


class BorrowedEngine:
    """The lender's engine, as one stage run sees it: everything passes through but `close`."""

    def __init__(self, backend: Any) -> None:
        self._backend = backend

    def __getattr__(self, name: str) -> Any:
        return getattr(self._backend, name)

    def close(self) -> None:
        pass


def lend_engine(monkeypatch: pytest.MonkeyPatch, backend: Any, engine: str) -> list[str]:
    """Stages build `backend` (borrowed) instead of a new engine, for as long as the test runs. They must ask
    for the engine it is (`engine`): a stage that asked for another would not be tested on this one. Returns
    the list of engines the stages asked for, one entry per engine built."""
    asked: list[str] = []

    def make(name: str, model_path: str, **options: Any) -> BorrowedEngine:
        assert name == engine, f"the stage asked for the {name} engine, not {engine}"
        asked.append(name)
        return BorrowedEngine(backend)

    monkeypatch.setattr(plumbing, "make_engine", make)
    return asked
