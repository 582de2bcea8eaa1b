"""`harness train` input: memory and time to build the training dataset, against `Dataset.from_list` over a list.

The input is a star `-pairs` artifact (prompt, chosen, rejected of ~210 characters each, plus star's other
columns) written by the real ArtifactWriter, at each size of `--rows`. Each measurement is a fresh process:

- harness: `training_rows` (method dpo): rows checked as they stream into Arrow in a scratch folder, and a
  `Dataset` memory-mapped from it (what `harness train` does).
- from_list: the same rows read through the same source, their prompt/chosen/rejected kept in a Python list,
  then `datasets.Dataset.from_list` (what `harness train` did before, minus its per-row checks).

Reported: peak RSS growth over the process's RSS after imports and a warm-up build (VmHWM - VmRSS), of which
file-backed pages (RssFile growth: pages of the memory-mapped Arrow file the kernel read in, reclaimable), the
peak of Python allocations while building (tracemalloc, in a separate process: it slows allocation), and wall
seconds.
Runs alternate sides; medians are reported.

    OMP_NUM_THREADS=1 python benchmarks/train_data.py --rows 10000 100000 300000 --repeats 3
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

PAIR = ("prompt", "chosen", "rejected")
SIDES = ("harness", "from_list")
METRICS = ("rss_growth_mb", "file_pages_mb", "python_peak_mb", "seconds")


def build(side: str, artifact: str) -> tuple[int, int]:
    """The dataset's rows, and the process's file-backed resident KiB while the dataset is open."""
    from harness.config import TrainConfig

    if side == "harness":
        from harness.stages.train_rows import training_rows

        with training_rows(TrainConfig(method="dpo", input=artifact, output="unused")) as data:
            return len(data.dataset), _status_kib("RssFile")
    from datasets import Dataset

    from harness.artifacts.sources import open_source

    rows = [{c: v[c] for c in PAIR} for _, v in open_source(artifact, {}).values() if v.get("valid") is not False]
    return len(Dataset.from_list(rows)), _status_kib("RssFile")


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def child(side: str, artifact: str, warmup: str, trace: bool) -> dict:
    import datasets

    datasets.disable_progress_bars()
    build(side, warmup)  # imports and first-call costs are not growth
    if trace:
        tracemalloc.start()
        rows, _ = build(side, artifact)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        return {"rows": rows, "python_peak_mb": peak / 2**20}
    before, file_before = _status_kib("VmRSS"), _status_kib("RssFile")
    start = time.perf_counter()
    rows, file_after = build(side, artifact)
    seconds = time.perf_counter() - start
    growth = {
        "rss_growth_mb": (_status_kib("VmHWM") - before) / 1024,
        "file_pages_mb": (file_after - file_before) / 1024,
    }
    return {"rows": rows, "seconds": seconds, **growth}


def run_child(side: str, artifact: str, warmup: str, trace: bool, cache: str) -> dict:
    command = [sys.executable, __file__, "--side", side, "--artifact", artifact, "--warmup", warmup]
    env = {**os.environ, "HARNESS_CACHE_DIR": cache}
    done = subprocess.run(command + (["--trace"] if trace else []), capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise SystemExit(f"{side} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--side", choices=SIDES, help=argparse.SUPPRESS)  # internal: one measurement
    parser.add_argument("--artifact", help=argparse.SUPPRESS)
    parser.add_argument("--warmup", help=argparse.SUPPRESS)
    parser.add_argument("--trace", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.side:
        print(json.dumps(child(args.side, args.artifact, args.warmup, args.trace)))
        return

    # Run as `python benchmarks/train_data.py`: the repo root, where the shared test helper lives, is not on the path.
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.unit.pairs_artifact import write_pairs_artifact

    results: dict[int, dict[str, dict[str, float]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        warmup = write_pairs_artifact(Path(tmp) / "warmup", 100)
        for count in args.rows:
            artifact = write_pairs_artifact(Path(tmp) / f"pairs-{count}", count)
            runs: dict[str, list[dict]] = {side: [] for side in SIDES}
            for repeat in range(args.repeats):
                for side in SIDES if repeat % 2 == 0 else SIDES[::-1]:
                    timed = run_child(side, artifact, warmup, False, tmp)
                    traced = run_child(side, artifact, warmup, True, tmp)
                    assert timed["rows"] == traced["rows"] == count, (timed, traced)
                    runs[side].append(timed | traced)
            results[count] = {
                side: {k: statistics.median(r[k] for r in rs) for k in METRICS} for side, rs in runs.items()
            }
            print(f"rows {count}", file=sys.stderr)
            for side, m in results[count].items():
                print(
                    f"  {side:<9} rss growth {m['rss_growth_mb']:7.1f} MB (file pages {m['file_pages_mb']:5.1f})"
                    f"  python peak {m['python_peak_mb']:7.1f} MB  {m['seconds']:6.2f} s",
                    file=sys.stderr,
                )
            ratio = results[count]["harness"]["seconds"] / results[count]["from_list"]["seconds"]
            print(f"  time ratio harness/from_list {ratio:.2f}", file=sys.stderr)
    report = {"args": vars(args) | {"json": None}, "load_average": os.getloadavg(), "results": results}
    print(json.dumps(report, indent=2))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
