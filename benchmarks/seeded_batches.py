"""What batch invariance costs on the transformers engine: the same rows, unseeded (batches of --batch-size)
against seeded (each request alone, so its tokens do not depend on its batch-mates).

The rows are the bundled sample's first `--rows`, rendered by the backfill task, with the card's sampling and
`--max-tokens`; they stream through the engine as synth streams them (`Engine.stream`, window 4 x batch size).
The two modes alternate (unseeded, seeded, seeded, unseeded, ...) after one small warm-up; rows/s and tok/s are
medians over `--repeats`. The model loads once, before any clock starts.

    python benchmarks/seeded_batches.py --rows 32 --batch-size 8 --max-tokens 32 --repeats 3
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import time

import torch
import transformers

from harness.artifacts.sources import open_source
from harness.engines.base import Job
from harness.engines.models import resolve_model
from harness.engines.transformers_engine import TransformersEngine
from harness.stages.synth import bundled_sample
from tasks.backfill import BackfillTask

SEED = 1234


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    task = BackfillTask()
    source = open_source(str(bundled_sample()), {"instruction": "instruction", "solution": "solution"})
    rows = [values for _, values in zip(range(args.rows), (v for _, v in source.values()), strict=False)]
    requests = [task.render(values) for values in rows]
    engine = TransformersEngine(resolve_model("default").path, threads=args.threads, batch_size=args.batch_size)
    base = dataclasses.replace(task.defaults, max_tokens=args.max_tokens)
    modes = {"unseeded": base, "seeded": dataclasses.replace(base, seed=SEED)}

    def run(params, count: int) -> dict[str, float]:
        jobs = [Job(i, r, params) for i, r in enumerate(requests[:count])]
        start = time.perf_counter()
        done = dict(engine.stream(jobs))
        seconds = time.perf_counter() - start
        tokens = sum(c.completion_tokens for samples in done.values() for c in samples)
        return {"seconds": seconds, "tokens": tokens, "rows_s": count / seconds, "tok_s": tokens / seconds}

    for params in modes.values():
        run(params, min(2, args.rows))  # warm-up
    results: dict[str, list[dict[str, float]]] = {name: [] for name in modes}
    for rep in range(args.repeats):
        for name in list(modes) if rep % 2 == 0 else list(reversed(modes)):
            result = run(modes[name], args.rows)
            result["loadavg_1m"] = os.getloadavg()[0]
            results[name].append(result)
            print(f"rep {rep + 1} {name}: {result['rows_s']:.3f} rows/s, {result['tok_s']:.1f} tok/s", flush=True)
    medians = {
        name: {k: statistics.median(r[k] for r in rs) for k in ("seconds", "tokens", "rows_s", "tok_s")}
        for name, rs in results.items()
    }
    print(
        json.dumps(
            {
                "args": vars(args),
                "threads": torch.get_num_threads(),
                "torch": torch.__version__,
                "transformers": transformers.__version__,
                "medians": medians,
                "seeded_over_unseeded_rows_s": medians["seeded"]["rows_s"] / medians["unseeded"]["rows_s"],
                "runs": results,
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
