"""`harness report` on a large artifact vs reading the same columns with raw polars and pyarrow; peak memory.

Writes synthetic-looking backfill rows (traces of 20-400 words, solutions, completions, three verdicts, token
counts, a judge score) with the real ArtifactWriter, at two sizes (--rows and a quarter of it), in a temp dir.
Then each mode runs in its own fresh process, one thread, alternating which goes first in each repetition:

- report:  `run_report` on the artifact: reading, every count, every plot, Markdown and HTML written
- polars:  `pl.scan_parquet(DIR/*.parquet).select(columns).collect()`: the columns the report reads, in memory
- pyarrow: `pq.read_table(shards, columns=columns)`: the same, with pyarrow
- tokenizer (with --tokenizer): the trace and solution texts streamed through the same tokenizer, batched, as
  the report counts them: the floor of a report that counts tokens

Seconds count the work only (imports excluded). Memory is the peak resident size sampled during the work
minus the size when the work started, so it is what the work itself added. A streaming report adds about the same memory at both sizes;
reading whole columns grows with the rows. Lengths of traces and answers are counted in words unless
--tokenizer is given (then the default model's tokenizer counts them, as for a real synth artifact; it
must already be converted in the harness cache).

    OMP_NUM_THREADS=1 python benchmarks/report.py --rows 100000 --repeats 3
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pyarrow as pa

MODES = ("report", "polars", "pyarrow")
TOKENIZER_MODES = (*MODES, "tokenizer")
COLUMNS = ["valid", "verdicts", "prompt_tokens", "completion_tokens", "trace", "solution", "judge_score_score"]
VOCAB = ["first", "then", "because", "so", "compare", "check", "total", "value", "step", "answer", "result", "given"]


def write_artifact(folder: Path, rows: int, shard_rows: int, model_path: str | None, seed: int = 0) -> None:
    from harness.artifacts.schemas import to_table, traces_schema
    from harness.artifacts.writer import ArtifactWriter, base_provenance
    from tasks import get_task

    rng = random.Random(seed)
    schema = pa.schema([*traces_schema(get_task("backfill").fields), ("judge_score_score", pa.float64())])
    provenance = {**base_provenance(), "task": "backfill", "model": {"requested": "default", "path": model_path or ""}}
    with ArtifactWriter(folder, schema, {"benchmark": "report"}).open({}) as writer:
        for start in range(0, rows, shard_rows):
            batch = [_row(rng, i) for i in range(start, min(start + shard_rows, rows))]
            writer.commit(to_table(batch, schema), provenance)


def _row(rng: random.Random, i: int) -> dict:
    from harness.artifacts.schemas import Verdict, verdict_fields

    trace = " ".join(rng.choices(VOCAB, k=rng.randint(20, 400)))
    solution = " ".join(rng.choices(VOCAB, k=rng.randint(1, 60)))
    passed = [rng.random() < 0.95, rng.random() < 0.9, rng.random() < 0.8]
    verdicts = [Verdict(n, p, "ok" if p else "failed") for n, p in zip(["markers", "trace_nonempty", "solution_preserved"], passed, strict=True)]  # fmt: skip
    return {
        "record_id": f"{i:012x}",
        "parent_id": None,
        "source_index": i,
        "sample_idx": 0,
        "task": "backfill",
        "task_version": "1",
        "template_hash": "0" * 16,
        "instruction": f"Question {i}: what is {i % 97} + {i % 89}?",
        "solution": solution,
        "trace": trace,
        "messages": None,
        "completion": trace + "\n<|thinking_end|>\n\n" + solution,
        "finish_reason": "stop",
        "prompt_tokens": 120 + i % 50,
        "completion_tokens": int(1.3 * (len(trace.split()) + len(solution.split()))),
        **verdict_fields(verdicts),
        "judge_score_score": rng.choice([1.0, 2.0, 3.0, 4.0, 5.0, None]),
    }


def child(mode: str, folder: Path) -> dict:
    """Run one mode in this process; returns seconds and the memory the work added."""
    import polars as pl
    import pyarrow.parquet as pq
    from rich.console import Console

    from harness.config import ReportConfig
    from harness.stages.report import run_report

    sampler = _RssSampler()
    started = time.perf_counter()
    if mode == "report":
        with tempfile.TemporaryDirectory() as out:
            run = run_report(ReportConfig(dirs=[str(folder)], output=out), Console(stderr=True, quiet=True))
            rows = run.rows
    elif mode == "tokenizer":  # the raw floor of --tokenizer: the same texts through the same tokenizer
        from transformers import AutoTokenizer

        from harness.engines.models import resolve_model

        tokenizer = AutoTokenizer.from_pretrained(resolve_model("default").path)
        rows = 0
        for shard in sorted(folder.glob("*.parquet")):
            for batch in pq.ParquetFile(shard).iter_batches(batch_size=8192, columns=["trace", "solution"]):
                for column in batch.columns:
                    tokenizer(column.to_pylist(), add_special_tokens=False)
                rows += batch.num_rows
    elif mode == "polars":
        rows = pl.scan_parquet(str(folder / "*.parquet")).select(COLUMNS).collect().height
    else:
        rows = pq.read_table(sorted(folder.glob("*.parquet")), columns=COLUMNS).num_rows
    seconds = time.perf_counter() - started
    return {"mode": mode, "rows": rows, "seconds": seconds, "added_mb": sampler.stop()}


class _RssSampler:
    """The most resident memory the work added over what the process held when it started (sampled every
    5 ms; ru_maxrss cannot tell, as imports may have peaked higher than the work)."""

    def __init__(self) -> None:
        self.start = self.peak = _rss_mb()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._done.wait(0.005):
            self.peak = max(self.peak, _rss_mb())

    def stop(self) -> float:
        self._done.set()
        self._thread.join()
        return max(self.peak, _rss_mb()) - self.start


def _rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def run_child(mode: str, folder: Path) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "POLARS_MAX_THREADS": "1"}
    command = [sys.executable, __file__, "--child", mode, "--dir", str(folder)]
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--shard-rows", type=int, default=1_000, help="rows per committed shard")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--tokenizer", action="store_true", help="count lengths with the default model's tokenizer")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--child", choices=TOKENIZER_MODES, help=argparse.SUPPRESS)
    parser.add_argument("--dir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.dir)))
        return

    model_path = None
    if args.tokenizer:
        from harness.engines.models import resolve_model

        model_path = resolve_model("default").path
    sizes = {"small": args.rows // 4, "large": args.rows}
    with tempfile.TemporaryDirectory(prefix="bench-report-") as tmp:
        folders = {}
        for name, rows in sizes.items():
            folders[name] = Path(tmp) / name
            started = time.perf_counter()
            write_artifact(folders[name], rows, args.shard_rows, model_path)
            print(f"wrote {rows} rows in {time.perf_counter() - started:.1f}s", file=sys.stderr)
        modes = TOKENIZER_MODES if args.tokenizer else MODES
        results = []
        for repeat in range(args.repeats):
            order = modes if repeat % 2 == 0 else tuple(reversed(modes))
            for mode in order:
                results.append({**run_child(mode, folders["large"]), "size": "large", "repeat": repeat})
                print(results[-1], file=sys.stderr)
        for mode in modes:  # memory at a quarter of the rows: does the work's memory grow with them?
            results.append({**run_child(mode, folders["small"]), "size": "small", "repeat": 0})
            print(results[-1], file=sys.stderr)
    summary = _summarize(results, sizes, modes)
    print(json.dumps(summary, indent=2))
    if args.json:
        args.json.write_text(json.dumps({"summary": summary, "runs": results}, indent=2))


def _summarize(results: list[dict], sizes: dict[str, int], modes: tuple[str, ...]) -> dict:
    large = {m: [r for r in results if r["mode"] == m and r["size"] == "large"] for m in modes}
    small = {m: next(r for r in results if r["mode"] == m and r["size"] == "small") for m in modes}
    median = {m: statistics.median(r["seconds"] for r in runs) for m, runs in large.items()}
    return {
        "rows": sizes,
        "median_seconds": median,
        **{f"ratio_report_over_{m}": median["report"] / median[m] for m in modes if m != "report"},
        "added_mb_large": {m: max(r["added_mb"] for r in runs) for m, runs in large.items()},
        "added_mb_small": {m: small[m]["added_mb"] for m in modes},
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}",
    }


if __name__ == "__main__":
    main()
