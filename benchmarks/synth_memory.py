"""Peak memory of `harness synth` against the input's size: flat, because the window and the shard bound it.

For each size N, an input of N distinct backfill rows is written, and the generation cache (a fresh one, in a
temporary `HARNESS_CACHE_DIR` that shares the converted default model) is filled with a valid completion for
each row's request, so the run streams every record through the loop, the cache, parsing and the committer
without building an engine (generation would take hours at 1M rows on a CPU; the engine's own memory does
not depend on N). Then `harness synth --input FILE --output DIR` runs at its default flags as a child
process, and its peak RSS (ru_maxrss) and wall time are reported.

    python benchmarks/synth_memory.py --sizes 10000 1000000
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness.engines.base import Completion
from harness.engines.cache import GenerationCache, cache_dir, request_key
from harness.engines.models import resolve_model
from tasks.backfill import BackfillTask


def write_input(path: Path, rows: int) -> None:
    with path.open("w") as f:
        for i in range(rows):
            f.write(json.dumps({"instruction": f"What is {i} + {i}?", "solution": f"{2 * i}"}) + "\n")


def fill_cache(folder: Path, rows: int) -> None:
    task = BackfillTask()
    fingerprint = resolve_model("default").fingerprint
    answer = [Completion("Add the two numbers.\n<|thinking_end|>", "stop", 50, 8)]
    cache = GenerationCache(folder / "generations.sqlite")
    batch = {}
    for i in range(rows):
        request = task.render({"instruction": f"What is {i} + {i}?", "solution": f"{2 * i}"})
        batch[request_key(request, task.defaults, fingerprint, "transformers")] = answer
        if len(batch) == 10_000:
            cache.put_many(batch)
            batch = {}
    cache.put_many(batch)
    cache.close()


def run(size: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        cache = tmp_path / "cache"
        cache.mkdir()
        for shared in ("models", "fingerprints"):  # the converted default model, not converted again
            if (cache_dir() / shared).exists():
                (cache / shared).symlink_to(cache_dir() / shared)
        write_input(tmp_path / "in.jsonl", size)
        fill_cache(cache, size)
        env = {**os.environ, "HARNESS_CACHE_DIR": str(cache)}
        command = [sys.executable, "-m", "harness.cli", "synth", "--input", str(tmp_path / "in.jsonl")]
        start = time.perf_counter()
        result = subprocess.run([*command, "--output", str(tmp_path / "out")], env=env, capture_output=True, text=True)
        seconds = time.perf_counter() - start
        if result.returncode != 0:
            raise SystemExit(result.stderr[-2000:])
        shards = len(list((tmp_path / "out").glob("*.parquet")))
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # the largest child so far, MiB
    return {"rows": size, "seconds": seconds, "peak_rss_mib": peak, "shards": shards}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 1_000_000])
    args = parser.parse_args()
    # ru_maxrss of children is the largest child's: run the sizes smallest first so each reading is its own.
    for size in sorted(args.sizes):
        r = run(size)
        print(
            f"{r['rows']:>9} rows  {r['seconds']:8.1f} s  peak RSS {r['peak_rss_mib']:7.1f} MiB  {r['shards']} shards"
        )


if __name__ == "__main__":
    main()
