"""Training across processes: `accelerate launch` (or torchrun) starts N copies of `harness train`; this module
says which copy is which and lets one of them do a job for the others.

Nothing here starts processes (`harness/scale/launch.py` does) or imports torch when there is only one process. The
launcher's environment (`WORLD_SIZE`, `RANK`, `LOCAL_RANK`) is the source of truth, so a plain single-process
run never initialises torch.distributed.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def rank() -> int:
    return int(os.environ.get("RANK", "0"))


def local_rank() -> int:
    return int(os.environ.get("LOCAL_RANK", "0"))


def is_distributed() -> bool:
    return world_size() > 1


def is_main() -> bool:
    """The process that writes the output folder, its log and provenance, and prints."""
    return rank() == 0


def is_local_main() -> bool:
    """The first process on its node: it builds what the node's processes read from the node's disk."""
    return local_rank() == 0


def init(cpu: bool) -> None:
    """The process group, as Trainer will set it up (gloo on CPU, nccl on GPUs); a no-op for one process."""
    if is_distributed():
        from accelerate import PartialState

        PartialState(cpu=cpu)


def barrier() -> None:
    if is_distributed():
        import torch.distributed as dist

        dist.barrier()


def gather(value: Any) -> list[Any]:
    """Every process's `value`, indexed by rank (any picklable object)."""
    if not is_distributed():
        return [value]
    import torch.distributed as dist

    values: list[Any] = [None] * world_size()
    dist.all_gather_object(values, value)
    return values


def on_main(job: Callable[[], T]) -> T:
    """`job` runs on the main process only; its result, or the error it raised, reaches every process, so they
    all go on together or all stop with the same message (none is left waiting for the others)."""
    return _shared(job, is_main(), 0)


def on_local_main(job: Callable[[], T]) -> T:
    """`job` runs once per node (its first process); each process gets its own node's result. An error on any
    node stops every process with that error. torchrun numbers a node's processes contiguously."""
    return _shared(job, is_local_main(), rank() - local_rank())


def _shared(job: Callable[[], T], runs_here: bool, source: int) -> T:
    """`job` where `runs_here`; every process gets the result of the process ranked `source`."""
    if not is_distributed():
        return job()
    outcome: tuple[bool, Any] = (True, None)
    raised: Exception | None = None
    if runs_here:
        try:
            outcome = (True, job())
        except Exception as err:  # handed to every process below, then raised there too
            raised, outcome = err, (False, _picklable(err))
    outcomes = gather(outcome)
    if raised is not None:
        raise raised  # here: the error itself, with its traceback
    failed = next((value for ok, value in outcomes if not ok), None)
    if failed is not None:
        raise failed
    return outcomes[source][1]


def _picklable(err: Exception) -> Exception:
    import pickle

    try:
        pickle.dumps(err)
        return err
    except Exception:
        return RuntimeError(f"{type(err).__name__}: {err}")
