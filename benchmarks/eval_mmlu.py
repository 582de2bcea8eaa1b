"""`harness eval mmlu` against the lm-eval CLI run directly: same questions, same model, same settings.

Both sides are whole processes timed from launch to exit (imports, model load, evaluation, output), the
way a user runs them. The lm-eval side runs the exact command the harness records in its provenance
(`lm_eval run --model hf ... --include_path <the run's generated task folder> --tasks ...`), so it answers
the very questions the harness drew, with lm-eval's own data loading, prompts and scoring. Each harness run
writes a fresh output folder; runs alternate (harness, lm-eval, ...) after one warm-up of each, and medians
are reported. The accuracies must be identical, subject by subject.

    python benchmarks/eval_mmlu.py --subsets college_mathematics,high_school_psychology,anatomy,marketing \
        --limit 10 --repeats 3 --threads 1
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
from importlib.metadata import version
from pathlib import Path

from harness.artifacts.writer import read_provenance
from harness.engines.models import resolve_model


def timed(command: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"{command[:4]} failed:\n{result.stderr[-3000:]}")
    return seconds


def harness_command(args: argparse.Namespace, out: Path) -> list[str]:
    return [
        *(sys.executable, "-m", "harness.cli", "eval", "mmlu", "--model", "default", "--subsets", args.subsets),
        *("--limit", str(args.limit), "--seed", str(args.seed), "--batch-size", str(args.batch_size)),
        *("--threads", str(args.threads), "--device", "cpu", "--output", str(out)),
    ]


def lm_eval_accuracies(results_dir: Path) -> dict[str, float]:
    files = sorted(results_dir.rglob("results_*.json"))
    results = json.loads(files[-1].read_text())["results"]
    return {task.removeprefix("harness_mmlu_"): r["acc,none"] for task, r in results.items()}


def harness_accuracies(out: Path) -> dict[str, float]:
    summary = json.loads((out / ".harness" / "summary.json").read_text())
    return {subject: s["accuracy"] for subject, s in summary["subjects"].items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subsets", default="college_mathematics,high_school_psychology,anatomy,marketing")
    parser.add_argument("--limit", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()

    resolve_model("default")  # the one-time GGUF conversion is not part of either side
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "TOKENIZERS_PARALLELISM": "false"}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        reference = root / "reference"  # its generated tasks are what the lm-eval CLI runs
        timed(harness_command(args, reference), env)  # warm-up of the harness side
        provenance = read_provenance(sorted(reference.glob("*.parquet"))[0])
        lm_eval_cli = [sys.executable, "-m", "lm_eval", *provenance["lm_eval"]["command"][1:]]
        lm_eval_cli += ["--output_path", str(root / "lm-eval-warmup")]
        timed(lm_eval_cli, env)  # warm-up of the lm-eval side

        runs: dict[str, list[float]] = {"harness": [], "lm_eval": []}
        accuracies: dict[str, list[dict[str, float]]] = {"harness": [], "lm_eval": []}
        for rep in range(args.repeats):
            out = root / f"harness-{rep}"
            runs["harness"].append(timed(harness_command(args, out), env))
            accuracies["harness"].append(harness_accuracies(out))
            results_dir = root / f"lm-eval-{rep}"
            runs["lm_eval"].append(timed([*lm_eval_cli[:-1], str(results_dir)], env))
            accuracies["lm_eval"].append(lm_eval_accuracies(results_dir))
            print(
                f"rep {rep + 1}/{args.repeats}: harness {runs['harness'][-1]:.1f}s  lm_eval {runs['lm_eval'][-1]:.1f}s"
                f"  (load avg {os.getloadavg()[0]:.1f})"
            )

        # What the lm-eval CLI pays before it evaluates anything: indexing every task YAML it ships.
        probe = "import time; from lm_eval.tasks import TaskManager; t = time.perf_counter(); TaskManager(); "
        probe += "print(time.perf_counter() - t)"
        probed = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True)
        index_seconds = float(probed.stdout.strip().splitlines()[-1])

    medians = {side: statistics.median(seconds) for side, seconds in runs.items()}
    ratio = medians["harness"] / medians["lm_eval"]
    identical = all(ours == theirs for ours, theirs in zip(accuracies["harness"], accuracies["lm_eval"], strict=True))
    questions = len(accuracies["harness"][0]) * args.limit
    print(
        f"\nmedian of {args.repeats} | {questions} questions ({args.subsets}), batch {args.batch_size}, threads {args.threads}"
    )
    print(f"harness eval mmlu  {medians['harness']:6.1f}s")
    print(f"lm_eval run (CLI)  {medians['lm_eval']:6.1f}s   (of which ~{index_seconds:.1f}s index lm-eval's own tasks)")
    print(f"wall-time ratio harness/lm-eval: {ratio:.3f} (target <= 1.05)")
    print(f"  the same without that indexing: {medians['harness'] / (medians['lm_eval'] - index_seconds):.3f}")
    print(f"accuracies identical per subject in every repeat: {identical}")
    for subject, accuracy in sorted(accuracies["harness"][0].items()):
        print(f"  {subject:<28} harness {accuracy:.3f}  lm-eval {accuracies['lm_eval'][0][subject]:.3f}")
    if args.json:
        report = {
            "args": {k: str(v) for k, v in vars(args).items()},
            "lm_eval": version("lm_eval"),
            "runs": runs,
            "median": medians,
            "ratio": ratio,
            "accuracies": accuracies,
            "identical": identical,
            "lm_eval_task_index_seconds": index_seconds,
        }
        args.json.write_text(json.dumps(report, indent=2))
    if not identical:
        raise SystemExit("accuracies differ")


if __name__ == "__main__":
    main()
