"""`harness run demo` against the same stages run by hand, one `harness` command after another.

Both sides write the same outputs (the demo's synth, verify, select, decontam, train, eval and report folders)
from an empty folder and an empty generation cache, so neither is helped by the other's cache. They alternate,
--repeats times each; medians are reported with the pipeline's overhead as a share of the by-hand wall time.
The runner's own work (planning, fingerprints, pipeline.json) is also timed from its record: wall time minus
the seconds its stages took.

    python benchmarks/pipeline.py --repeats 3
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
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HARNESS = [sys.executable, "-m", "harness.cli"]


def by_hand(out: Path) -> None:
    """The demo's stages as a user would type them (harness/pipeline/shipped/demo.yaml, size tiny)."""
    data = ROOT / "harness" / "data" / "star_demo.jsonl"
    commands = [
        f"synth --task star --input {data} --limit 16 --n 4 --max-tokens 24 --seed 0 --output {out}/synth",
        f"judge --input {out}/synth --judge exact --output {out}/verify",
        f"select best-of-n --input {out}/verify --judge exact --min-score 1 --output {out}/select",
        f"decontam --input {out}/select --against mmlu --output {out}/decontam",
        f"train sft --input {out}/decontam --output {out}/train --max-steps 4 --batch-size 4 --max-length 128",
        f"eval mmlu --model {out}/train --subsets high_school_mathematics --limit 20 --output {out}/eval",
        f"report {' '.join(f'{out}/{s}' for s in ('synth', 'verify', 'select', 'decontam', 'eval'))} "
        f"--output {out}/report",
    ]
    for command in commands:
        subprocess.run([*HARNESS, *command.split()], check=True, capture_output=True)


def pipeline(out: Path) -> None:
    subprocess.run([*HARNESS, "run", "demo", "--output", str(out)], check=True, capture_output=True)


def timed(side, work: Path) -> float:
    cache = work / "cache"
    cache.mkdir(parents=True)
    os.environ["HARNESS_CACHE_DIR"] = str(cache)  # an empty generation cache for each run
    models = Path(tempfile.gettempdir()) / "harness-bench-models"  # the converted default model, shared
    models.mkdir(exist_ok=True)
    (cache / "models").symlink_to(models, target_is_directory=True)
    start = time.perf_counter()
    side(work / "out")
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    hand, runs, stage_sums = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        timed(pipeline, Path(tmp) / "warm-up")  # converts the default model once, loads the page cache
        for i in range(args.repeats):
            hand.append(timed(by_hand, Path(tmp) / f"hand-{i}"))
            runs.append(timed(pipeline, Path(tmp) / f"run-{i}"))
            record = json.loads((Path(tmp) / f"run-{i}" / "out" / "pipeline.json").read_text())
            stage_sums.append(sum(s["seconds"] for s in record["stages"]))
            print(f"repeat {i + 1}: by hand {hand[-1]:.1f}s, harness run {runs[-1]:.1f}s", file=sys.stderr)
    h, r = statistics.median(hand), statistics.median(runs)
    own = statistics.median(w - s for w, s in zip(runs, stage_sums, strict=True))
    result = {
        "by_hand_s": round(h, 1), "harness_run_s": round(r, 1), "overhead_share": round((r - h) / h, 4),
        "runner_own_s": round(own, 2), "runner_own_share": round(own / r, 4), "repeats": args.repeats,
    }  # fmt: skip
    print(json.dumps(result))


if __name__ == "__main__":
    main()
