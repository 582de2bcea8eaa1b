"""Peak memory of `harness synth` on an input with one row far longer than the model's context (issue 24).

Writes a JSONL of backfill rows: a few short ones and one whose instruction is `--chars` characters long
(12M by default), then runs `harness synth --input FILE --engine ENGINE --max-tokens 8` as a child process
and reports its exit code, peak RSS (ru_maxrss) and what the artifact says about each row. A watchdog kills
the child (and says so) if its RSS passes `--kill-mib`, so a run that would exhaust the machine's memory
stops before the kernel's OOM killer has to choose. `--chars 0` writes the short rows only: the baseline.

    python benchmarks/overflow_rss.py --engine transformers --chars 12000000
    python benchmarks/overflow_rss.py --engine transformers --chars 0
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

SHORT = [("What is 2 + 3?", "5"), ("What is 7 * 6?", "42"), ("What is 10 - 4?", "6")]


def write_input(path: Path, chars: int) -> None:
    with path.open("w") as f:
        rows = list(SHORT)
        if chars:
            rows.insert(1, ("Add these numbers: " + "1 + " * ((chars - 19) // 4), "?"))
        for instruction, solution in rows:
            f.write(json.dumps({"instruction": instruction, "solution": solution}) + "\n")


def rss_mib(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engine", default="transformers")
    parser.add_argument("--chars", type=int, default=12_000_000)
    parser.add_argument("--kill-mib", type=float, default=8192)
    parser.add_argument("extra", nargs="*", help="more synth flags, after --")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        source, out = Path(tmp) / "in.jsonl", Path(tmp) / "out"
        write_input(source, args.chars)
        command = [sys.executable, "-m", "harness.cli", "synth", "--input", str(source), "--output", str(out)]
        command += ["--engine", args.engine, "--max-tokens", "8", "--no-cache", *args.extra]
        start = time.perf_counter()
        child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        killed = []

        def watch() -> None:
            while child.poll() is None:
                if rss_mib(child.pid) > args.kill_mib:
                    killed.append(rss_mib(child.pid))
                    child.kill()
                time.sleep(0.05)

        threading.Thread(target=watch, daemon=True).start()
        stdout, stderr = child.communicate()
        seconds = time.perf_counter() - start
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        rows = []
        if list(out.glob("*.parquet")):
            import polars as pl

            frame = pl.read_parquet(out / "*.parquet").sort("source_index")
            for row in frame.iter_rows(named=True):
                reason = (row.get("rejection_reason") or "")[:160]
                rows.append({"source_index": row["source_index"], "finish": row["finish_reason"], "reason": reason})
        report = {
            "engine": args.engine,
            "chars": args.chars,
            "returncode": child.returncode,
            "killed_at_mib": killed[0] if killed else None,
            "peak_rss_mib": round(peak, 1),
            "seconds": round(seconds, 1),
            "rows": rows,
        }
        print(json.dumps(report, indent=1))
        if child.returncode != 0:
            print(stderr[-3000:], file=sys.stderr)


if __name__ == "__main__":
    main()
