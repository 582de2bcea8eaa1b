"""`harness judge` against the libraries underneath it, in one run: verifier throughput and LLM judge overhead.

Verifiers: a synthetic star artifact (questions of the bundled reasoning-gym sample, 8 samples each, half of
them right) is judged by `run_judge` with one verifier at a time; the baseline calls the library underneath
on the same values already in memory, in a bare loop: `answers_match` (exact), math-verify's `parse` + `verify`
(math), the generator's `score_answer` on prebuilt entries (reasoning-gym), `StarTask.parse` (format). The
stage's extra work is reading and writing Parquet, the source lookup, reasons, and the calibration tally.

LLM judge overhead: the `score` judge through `run_judge` (transformers engine, cache off) against the same
requests sent straight to the same engine, batch for batch. Both sides use one engine object, loaded and warmed
up once before the clocks start (run_judge borrows it), so the difference is the stage's own work: reading the
artifact, building and fencing prompts, parsing replies, writing shards and the summary.
Runs alternate sides; medians are reported.

    python benchmarks/judge.py --rows 4000 --math-rows 800 --llm-rows 16 --max-tokens 16 --repeats 3
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.console import Console

import harness.engines.session as plumbing
from harness.artifacts.sources import open_source
from harness.artifacts.writer import git_revision
from harness.config import JudgeConfig
from harness.engines.base import Completion, SamplingParams
from harness.engines.models import resolve_model
from harness.stages.judge import run_judge
from harness.stages.synth import bundled_sample
from judges.judge_prompts import fence, score_request
from judges.verifiers import answers_match
from tasks.star import StarTask

# Run as `python benchmarks/judge.py`: the repo root is not on the path, and the test helpers below live there.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.integration.borrowed_engine import BorrowedEngine  # noqa: E402
from tests.unit.judged_samples import star_row, write_star_artifact  # noqa: E402

SAMPLES_PER_QUESTION = 8


def build_artifact(folder: Path, rows: int) -> list[dict[str, Any]]:
    """A star artifact of `rows` rows; returns the rows (with the source columns, for the baselines)."""
    source = open_source(str(bundled_sample()), {})
    sample = list(source.rows())
    out = []
    for n in range(rows):
        q, s = divmod(n, SAMPLES_PER_QUESTION)
        src = sample[q % len(sample)]
        gold = src.values["solution"]
        answer = gold if s % 2 == 0 else gold + "1"  # half of the samples right
        out.append(star_row(f"q{q:07d}", src.index, src.values, s, f"Work it out step by step.\n### Answer: {answer}"))
    write_star_artifact(folder, out, source)
    for row in out:
        row["_source"] = sample[row["source_index"]].values
    return out


def stage_seconds(artifact: Path, judge: str, rows: int, backend: Any = None, **settings: Any) -> float:
    """run_judge's wall time. With `backend`, the stage gets that already loaded engine (warm, as the raw
    side's), so the difference is the stage's own work, not a model load or a cold first batch."""
    with tempfile.TemporaryDirectory() as tmp:
        cfg = JudgeConfig(input=str(artifact), output=str(Path(tmp) / "j"), judges=[judge], **settings)
        original = plumbing.make_engine
        if backend is not None:
            plumbing.make_engine = lambda *args, **kwargs: BorrowedEngine(backend)
        try:
            start = time.perf_counter()
            summary = run_judge(cfg, Console(quiet=True))
            seconds = time.perf_counter() - start
        finally:
            plumbing.make_engine = original
    assert summary.rows == rows, (summary.rows, rows)
    return seconds


def raw_seconds(judge: str, rows: list[dict[str, Any]]) -> float:
    if judge == "exact":
        start = time.perf_counter()
        for r in rows:
            answers_match(r["answer"], r["reference"])
    elif judge == "math":
        from math_verify import parse, verify

        start = time.perf_counter()
        for r in rows:
            verify(parse(r["reference"], extraction_mode="first_match"), parse(r["answer"]))
    elif judge == "reasoning-gym":
        import reasoning_gym

        made: dict[tuple, Any] = {}
        entries = []
        for r in rows:  # building datasets and entries is setup, not the scorer's work
            s = r["_source"]
            key = (s["generator"], s["seed"], json.dumps(s["config"], sort_keys=True))
            if key not in made:
                made[key] = reasoning_gym.create_dataset(s["generator"], size=16, seed=s["seed"], **s["config"])
            entries.append((made[key], made[key][s["index"]]))
        start = time.perf_counter()
        for r, (dataset, entry) in zip(rows, entries, strict=True):
            dataset.score_answer(answer=r["answer"], entry=entry)
    else:  # format: the task's own parse
        task = StarTask()
        start = time.perf_counter()
        for r in rows:
            task.parse({"question": r["question"], "answer": r["reference"]}, Completion(r["completion"], "stop", 0, 0))
    return time.perf_counter() - start


def llm_raw_seconds(backend, rows: list[dict[str, Any]], per_call: int, params: SamplingParams) -> float:
    requests = [score_request(r["question"], fence(r["answer"]), 1, 10) for r in rows]
    start = time.perf_counter()
    for i in range(0, len(requests), per_call):
        backend.generate(requests[i : i + per_call], params)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=4000)
    parser.add_argument("--math-rows", type=int, default=800, help="math-verify is ~100x slower: fewer rows")
    parser.add_argument("--llm-rows", type=int, default=16)
    parser.add_argument("--max-tokens", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    threads = int(os.environ.get("OMP_NUM_THREADS", "1"))

    report: dict[str, Any] = {"args": vars(args) | {"json": str(args.json)}, "git_revision": git_revision()}
    with tempfile.TemporaryDirectory() as tmp:
        big, small = Path(tmp) / "big", Path(tmp) / "small"
        rows = build_artifact(big, args.rows)
        math_rows = build_artifact(small, args.math_rows)
        for judge in ("exact", "math", "reasoning-gym", "format"):
            artifact, data = (small, math_rows) if judge == "math" else (big, rows)
            stage_seconds(artifact, judge, len(data))  # warm-ups: imports and first-call costs, untimed
            raw_seconds(judge, data)
            runs: dict[str, list[float]] = {"harness": [], "raw": []}
            for rep in range(args.repeats):
                sides = [
                    ("harness", lambda a=artifact, j=judge, d=data: stage_seconds(a, j, len(d))),
                    ("raw", lambda j=judge, d=data: raw_seconds(j, d)),
                ]
                for name, run in sides if rep % 2 == 0 else sides[::-1]:
                    runs[name].append(run())
            med = {k: statistics.median(v) for k, v in runs.items()}
            rates = {k: len(data) / v for k, v in med.items()}
            report[judge] = {"rows": len(data), "rows_s": rates, "ratio": rates["harness"] / rates["raw"]}
            print(
                f"{judge:<14} rows {len(data):>6}  harness {rates['harness']:>9.0f} rows/s  raw {rates['raw']:>9.0f} rows/s  ratio {rates['harness'] / rates['raw']:.3f}"
            )

        # LLM judge overhead: the score judge vs the same requests straight to the engine.
        from harness.engines.transformers_engine import TransformersEngine

        llm_rows = build_artifact(Path(tmp) / "llm", args.llm_rows)
        backend = TransformersEngine(resolve_model("default").path, threads=threads)
        params = SamplingParams(temperature=0, max_tokens=args.max_tokens)
        per_call = 4 * SAMPLES_PER_QUESTION  # run_judge sends a batch of 4 questions' requests in one call
        settings = {"max_tokens": args.max_tokens, "cache": False, "threads": threads}
        _llm_stage(Path(tmp) / "llm", len(llm_rows), backend, settings)  # warm-ups
        llm_raw_seconds(backend, llm_rows, per_call, params)
        runs = {"harness": [], "raw": []}
        for rep in range(args.repeats):
            sides = [
                ("harness", lambda: _llm_stage(Path(tmp) / "llm", len(llm_rows), backend, settings)),
                ("raw", lambda: llm_raw_seconds(backend, llm_rows, per_call, params)),
            ]
            for name, run in sides if rep % 2 == 0 else sides[::-1]:
                runs[name].append(run())
            print(f"score judge rep {rep + 1}: " + "  ".join(f"{k} {v[-1]:.1f}s" for k, v in runs.items()))
        med = {k: statistics.median(v) for k, v in runs.items()}
        report["score_judge"] = {"rows": len(llm_rows), "seconds": med, "overhead": med["harness"] / med["raw"] - 1}
        print(
            f"score judge    rows {len(llm_rows):>6}  harness {med['harness']:.2f}s  raw engine {med['raw']:.2f}s  overhead {report['score_judge']['overhead']:+.1%}"
        )
    report["loadavg_1m"] = os.getloadavg()[0]
    print(f"load average (1 min) at the end: {report['loadavg_1m']:.1f}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))


def _llm_stage(artifact: Path, rows: int, backend: Any, settings: dict[str, Any]) -> float:
    return stage_seconds(artifact, "score", rows, backend=backend, **settings)


if __name__ == "__main__":
    main()
