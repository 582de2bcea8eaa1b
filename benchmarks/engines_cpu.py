"""vllm against transformers on the same work: `harness synth --task backfill`, same rows, params, seed, batch size.

Each (engine, n) run is a fresh process (an engine's threads and memory never touch the other's); the time
is the stage's own clock, from the first batch to the last commit, so engine start-up is left out and
everything the stage does per batch is in. Runs alternate engines; medians are reported.

    python benchmarks/engines_cpu.py --rows 16 --max-tokens 96 --batch-size 16 --repeats 3
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

SEED = 1234


def child(engine: str, n: int, rows: int, max_tokens: int, batch_size: int, threads: int) -> None:
    from rich.console import Console

    from harness.config import SamplingOverrides, SynthConfig
    from harness.stages.synth import run_synth

    with tempfile.TemporaryDirectory() as tmp:
        cfg = SynthConfig(
            task="backfill",
            input="sample",
            output=str(Path(tmp) / "out"),
            engine=engine,
            limit=rows,
            batch_size=batch_size,
            threads=threads,
            cache=False,
            sampling=SamplingOverrides(max_tokens=max_tokens, n=n, seed=SEED),
        )
        summary = run_synth(cfg, Console(quiet=True))
    print(json.dumps({"tokens": summary.generated_tokens, "seconds": summary.seconds}))


def measure(engine: str, n: int, args: argparse.Namespace) -> dict[str, float]:
    rows = args.rows if n == 1 else max(args.rows // n, 1)  # the same number of samples at every n
    command = [sys.executable, __file__, "--child", engine, str(n), str(rows), str(args.max_tokens)]
    command += [str(args.batch_size), str(args.threads)]
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
    out = subprocess.run(command, capture_output=True, text=True, env=env, check=True, timeout=3600)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    return {**result, "rows": rows, "tok_s": result["tokens"] / result["seconds"], "loadavg_1m": os.getloadavg()[0]}


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        engine, n, rows, max_tokens, batch_size, threads = sys.argv[2], *map(int, sys.argv[3:8])
        child(engine, n, rows, max_tokens, batch_size, threads)
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=16, help="rows at n=1; rows/n at larger n (same samples)")
    parser.add_argument("--max-tokens", type=int, default=96)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--n", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    results: dict[str, list[dict]] = {}
    for rep in range(args.repeats):
        for n in args.n:
            for engine in ("transformers", "vllm"):
                results.setdefault(f"{engine} n={n}", []).append(r := measure(engine, n, args))
                print(f"rep {rep + 1}/{args.repeats} {engine:<12} n={n}: {r['tokens']} tokens {r['tok_s']:.1f} tok/s")

    medians = {k: statistics.median(r["tok_s"] for r in rs) for k, rs in results.items()}
    print(
        f"\nmedian tok/s of {args.repeats} | max_tokens {args.max_tokens}, batch {args.batch_size}, threads {args.threads}"
    )
    for n in args.n:
        t, v = medians[f"transformers n={n}"], medians[f"vllm n={n}"]
        print(f"n={n}: transformers {t:.1f}  vllm {v:.1f}  vllm/transformers {v / t:.2f}x")
    if args.json:
        args.json.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()}, "runs": results,
                                         "median_tok_s": medians}, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
