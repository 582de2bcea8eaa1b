"""How many CPU threads a CPU engine takes by default: the cores that are free when it starts.

Torch runs each operator on a team of OpenMP threads that meet at a barrier, so a team is as fast as its
slowest thread. When other processes keep some of the cores busy, a team sized to every core waits at each
barrier for a thread the scheduler has parked: the README demo fell from ~49 to ~2 tokens/s on 2 cores with
two CPU-bound jobs beside it. A team sized to the cores that are actually idle keeps its threads running
and gets its share of the machine. An explicit --threads or OMP_NUM_THREADS always wins.
"""

from __future__ import annotations

import os
import time

SAMPLE_SECONDS = 0.25  # long enough to see a busy core, short next to loading a model


def default_threads() -> int:
    """OMP_NUM_THREADS when set, else the cores this process may use that other processes leave idle (>= 1)."""
    if env := os.environ.get("OMP_NUM_THREADS"):
        return max(1, int(env))
    cores = sorted(os.sched_getaffinity(0))
    idle = idle_cores(cores)
    return max(1, min(len(cores), round(idle))) if idle is not None else len(cores)


def idle_cores(cores: list[int], seconds: float = SAMPLE_SECONDS) -> float | None:
    """How many of `cores` were idle over `seconds` (0.0 to len(cores)), from /proc/stat; None where unknown."""
    before = _cpu_times(cores)
    time.sleep(seconds)
    after = _cpu_times(cores)
    if not before or before.keys() != after.keys():
        return None
    idle = 0.0
    for cpu, (busy_then, idle_then) in before.items():
        busy_now, idle_now = after[cpu]
        total = (busy_now - busy_then) + (idle_now - idle_then)
        idle += (idle_now - idle_then) / total if total > 0 else 1.0
    return idle


def _cpu_times(cores: list[int]) -> dict[int, tuple[int, int]]:
    """cpu -> (busy, idle) jiffies for each of `cores`; empty where /proc/stat cannot be read."""
    wanted = {f"cpu{c}": c for c in cores}
    times: dict[int, tuple[int, int]] = {}
    try:
        with open("/proc/stat") as stat:
            for line in stat:
                name, *fields = line.split()
                if name in wanted:
                    values = [int(v) for v in fields[:8]]  # user nice system idle iowait irq softirq steal
                    idle = values[3] + values[4]
                    times[wanted[name]] = (sum(values) - idle, idle)
    except (OSError, ValueError):
        return {}
    return times
