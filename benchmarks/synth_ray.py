"""`harness synth --ray` against the plain CLI, whole processes, as a user compares them.

Sides (each a `harness synth` process on the same rows, sampling and seed, no generation cache):
  one    the plain CLI, 1 thread
  ray1   --ray ADDRESS --replicas 1, 1 thread: Ray's own cost (target >= 0.9 of `one`)
  ray2   --ray ADDRESS --replicas 2, 1 thread each: data parallelism on this 2-core machine (close to 2 on
         long enough work)
The local cluster (2 CPUs) is started once by this script, and its start-up time is reported. Each run is
timed whole (process start to exit). Start-up is measured apart by the same command with `--max-tokens 1`
(process, Ray join, replicas, model load, one token per row), and `work` = whole - start-up is the generation
itself. Sides take turns (the order flips every repetition); medians are reported.

    python benchmarks/synth_ray.py --rows 16 --max-tokens 64 --repeats 2
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import ray

HARNESS = [sys.executable, "-m", "harness.cli", "synth"]


def start_cluster(cpus: int) -> tuple[str, float]:
    start = time.perf_counter()
    ray.init(address="local", num_cpus=cpus, include_dashboard=False, log_to_driver=False)
    return ray.get_runtime_context().gcs_address, time.perf_counter() - start


def run_side(extra: list[str], rows: int, max_tokens: int) -> float:
    """Seconds of one whole `harness synth` process."""
    with tempfile.TemporaryDirectory() as tmp:
        command = [*HARNESS, "--task", "backfill", "--input", "sample", "--limit", str(rows), "--seed", "1234"]
        command += ["--max-tokens", str(max_tokens), "--threads", "1", "--no-cache"]
        command += ["--output", str(Path(tmp) / "out"), *extra]
        start = time.perf_counter()
        proc = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{proc.stderr}")
    return wall


def measure(extra: list[str], rows: int, max_tokens: int) -> dict[str, float]:
    startup = run_side(extra, rows, 1)
    wall = run_side(extra, rows, max_tokens)
    work = max(wall - startup, 1e-9)
    return {"wall": wall, "startup": startup, "work": work, "rows_s": rows / wall, "work_rows_s": rows / work}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=16)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--json", type=Path, help="also write every run and the medians here")
    args = parser.parse_args()

    address, cluster_start = start_cluster(2)
    print(f"local Ray cluster (2 CPUs) started in {cluster_start:.1f}s at {address}")
    sides = {
        "one": [],
        "ray1": ["--ray", address, "--replicas", "1"],
        "ray2": ["--ray", address, "--replicas", "2"],
    }
    results: dict[str, list[dict[str, float]]] = {name: [] for name in sides}
    try:
        for rep in range(args.repeats):
            for name in list(sides) if rep % 2 == 0 else list(reversed(sides)):
                result = measure(sides[name], args.rows, args.max_tokens)
                result["loadavg_1m"] = os.getloadavg()[0]
                results[name].append(result)
                print(f"rep {rep + 1} {name}: " + "  ".join(f"{k} {v:.2f}" for k, v in result.items()), flush=True)
    finally:
        ray.shutdown()

    keys = ("wall", "startup", "work", "rows_s", "work_rows_s")
    medians = {n: {k: statistics.median(r[k] for r in rs) for k in keys} for n, rs in results.items()}
    print(f"\nmedian of {args.repeats} | {args.rows} backfill rows, --max-tokens {args.max_tokens}, 1 thread each")
    print(f"{'side':<6} " + " ".join(f"{k:>14}" for k in keys))
    for name, m in medians.items():
        print(f"{name:<6} " + " ".join(f"{m[k]:>14.3f}" for k in keys))
    ratios = {
        f"{a}/{b} {k}": medians[a][k] / medians[b][k]
        for a, b in (("ray2", "one"), ("ray1", "one"))
        for k in ("rows_s", "work_rows_s")
    }
    for label, value in ratios.items():
        print(f"ratio {label}: {value:.3f}")
    report = {
        "args": vars(args),
        "cluster_start_s": cluster_start,
        "ray": ray.__version__,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "results": results,
        "medians": medians,
        "ratios": ratios,
    }
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, default=str))


if __name__ == "__main__":
    main()
