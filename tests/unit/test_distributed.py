"""One process (no launcher in the environment): the distributed helpers run the job here and change nothing."""

from __future__ import annotations

import pytest

from harness.scale import distributed


def test_without_a_launcher_every_helper_is_the_plain_call(monkeypatch):
    for name in ("WORLD_SIZE", "RANK", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    assert (distributed.world_size(), distributed.is_main(), distributed.is_distributed()) == (1, True, False)
    assert distributed.on_main(lambda: 3) == 3 and distributed.on_local_main(lambda: "x") == "x"
    assert distributed.gather({"a": 1}) == [{"a": 1}]
    distributed.barrier()
    with pytest.raises(ValueError, match="bad"):
        distributed.on_main(lambda: (_ for _ in ()).throw(ValueError("bad")))


def test_launcher_ranks_are_read_from_the_environment(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("RANK", "3")
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert distributed.is_distributed() and not distributed.is_main() and not distributed.is_local_main()
