"""CPU engine throughput when other processes share the cores (issue 16, item 6).

Runs a small backfill synth on the transformers engine (tok/s from its summary) with the machine "as idle as
it gets" and with BUSY CPU-bound processes beside it, for each thread setting, sides alternated, medians:

    python benchmarks/shared_cores.py [--rounds 2] [--limit 2] [--max-tokens 48] [--busy 2]

Settings: `threads=2` (torch intra-op threads on every core, OpenMP's default wait policy: threads spin at
barriers), `threads=2 passive` (OMP_WAIT_POLICY=PASSIVE: a waiting thread sleeps instead of spinning) and
`default` (no --threads: the cores idle when the engine starts, harness/cpu_threads.py).
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

SETTINGS = {
    "threads=2": {"threads": "2"},  # every core: the default before issue 16 on this 2-core machine
    "threads=2 passive": {"threads": "2", "OMP_WAIT_POLICY": "PASSIVE"},
    "default": {},  # the harness's default now: the cores idle at start (harness/cpu_threads.py)
}
TOKS = re.compile(r"\(([\d.]+) tok/s\)")


def synth_tok_s(setting: dict[str, str], limit: int, max_tokens: int, folder: Path) -> float:
    env = {**os.environ, **{k: v for k, v in setting.items() if k != "threads"}}
    env.pop("OMP_NUM_THREADS", None)
    out = tempfile.mkdtemp(dir=folder)
    command = [sys.executable, "-m", "harness.cli", "synth", "--task", "backfill", "--input", "sample"]
    command += ["--limit", str(limit), "--max-tokens", str(max_tokens), "--no-cache", "--output", out]
    command += ["--engine", "transformers", *(["--threads", setting["threads"]] if "threads" in setting else [])]
    run = subprocess.run(command, capture_output=True, text=True, env=env, check=True)
    return float(TOKS.search(run.stderr.replace("\n", " ")).group(1))


def busy(count: int) -> list[subprocess.Popen]:
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(count)]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--limit", type=int, default=2)
    parser.add_argument("--max-tokens", type=int, default=48)
    parser.add_argument("--busy", type=int, default=2)
    args = parser.parse_args()
    results: dict[tuple[str, str], list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.rounds):
            for name, setting in SETTINGS.items():
                for load in ("idle", f"{args.busy} busy"):
                    hogs = busy(args.busy) if load != "idle" else []
                    try:
                        tok_s = synth_tok_s(setting, args.limit, args.max_tokens, Path(tmp))
                    finally:
                        for hog in hogs:
                            hog.kill()
                            hog.wait()
                    results.setdefault((name, load), []).append(tok_s)
                    print(f"{name:18} {load:7} {tok_s:6.1f} tok/s  (load average {os.getloadavg()[0]:.1f})", flush=True)
    print("\nmedians (tok/s), and loaded/idle ratio; a fair share with 2 busy processes on 2 cores is 1/3:")
    for name in SETTINGS:
        idle = statistics.median(results[(name, "idle")])
        loaded = statistics.median(results[(name, f"{args.busy} busy")])
        print(f"{name:18} idle {idle:6.1f}  loaded {loaded:6.1f}  ratio {loaded / idle:.2f}")


if __name__ == "__main__":
    main()
