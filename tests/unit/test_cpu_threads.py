"""The default thread count of CPU engines: OMP_NUM_THREADS wins, else the cores idle when the engine starts."""

from __future__ import annotations

import os

import harness.scale.cpu_threads as cpu_threads


def test_omp_num_threads_wins(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert cpu_threads.default_threads() == 3


def test_idle_cores_are_measured_on_this_machine(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    cores = sorted(os.sched_getaffinity(0))
    idle = cpu_threads.idle_cores(cores, seconds=0.05)
    assert idle is not None and 0.0 <= idle <= len(cores)
    assert 1 <= cpu_threads.default_threads() <= len(cores)


def test_busy_cores_are_left_to_their_processes(monkeypatch):
    """Two cores over one sample: cpu0 busy the whole time, cpu1 idle three quarters of it -> 1 thread."""
    samples = iter([{0: (100, 0), 1: (100, 0)}, {0: (200, 0), 1: (125, 75)}])
    monkeypatch.setattr(cpu_threads, "_cpu_times", lambda cores: next(samples))
    monkeypatch.setattr(cpu_threads.time, "sleep", lambda s: None)
    assert cpu_threads.idle_cores([0, 1]) == 0.75
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(cpu_threads.os, "sched_getaffinity", lambda pid: {0, 1})
    samples = iter([{0: (100, 0), 1: (100, 0)}, {0: (200, 0), 1: (125, 75)}])
    assert cpu_threads.default_threads() == 1


def test_unreadable_proc_stat_falls_back_to_every_core(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(cpu_threads, "_cpu_times", lambda cores: {})
    monkeypatch.setattr(cpu_threads.os, "sched_getaffinity", lambda pid: {0, 1, 2, 3})
    assert cpu_threads.default_threads() == 4
