"""`harness rescore` over a synthetic synth artifact: rows/s and peak memory at 1M rows, against the bare loop.

Writes a `--task` artifact (star by default; structured; reasoning-token, a two-step task) of --rows rows through the real ArtifactWriter, in shards of 10k rows,
with no model: a pool of 64 completions (right, wrong and broken answers, as a model writes them) is parsed
once by the task, and its rows are repeated under distinct record ids, so the stored verdicts are the task's
own. Then, on one core:

- rescore: `harness rescore --input ... --output ...` in a child process, end to end (read, parse every stored
  completion again, compare, write the rescored artifact and rescore.json); its peak RSS is the child's.
- bare:    the loop rescore wraps, in this process: every row read back and `task.parse` called on its completion,
  nothing compared or written (the floor of any rescore).

    OMP_NUM_THREADS=1 python benchmarks/rescore.py --rows 1000000
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

import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness.artifacts.reader import open_artifact  # noqa: E402
from harness.artifacts.schemas import to_table, traces_schema, verdict_fields  # noqa: E402
from harness.artifacts.writer import ArtifactWriter, base_provenance  # noqa: E402
from harness.engines.base import Completion  # noqa: E402
from tasks import get_task  # noqa: E402

SHARD = 10_000
POOL = 64


def pool_rows(task_name: str) -> list[dict]:
    """POOL parsed rows of the task: a right, a wrong and a broken answer in turn."""
    task = get_task(task_name)
    rows = []
    for i in range(POOL):
        first = None  # the first step of a two-step task
        if task_name == "star":
            values = {"question": f"What is {i} + {i}?", "answer": str(2 * i)}
            text = [f"Add them: {i} + {i}.\n### Answer: {2 * i}", f"Guess.\n### Answer: {2 * i + 1}", "no answer"][
                i % 3
            ]
        elif task.two_step:  # reasoning-token: both turns ended, the reasoning at its budget, an empty answer
            values = {"question": f"What is {i} + {i}?"}
            first = Completion(f"Add them: {i} + {i}.", "length" if i % 3 == 1 else "stop", 30, 12, 0)
            text = [f"{2 * i}", f"It is {2 * i}.", ""][i % 3]
        else:  # structured: the card's tags, the right option, a wrong one, a missing <output>
            values = {
                "question": f"Which option is number {i % 4 + 1}?",
                "choices": ["a", "b", "c", "d"],
                "answer": i % 4,
            }
            body = "<think><planning>Read the options.</planning><monitoring>Check each.</monitoring><evaluation>One fits.</evaluation></think>"
            text = [f"{body}<output>{i % 4 + 1}</output>", f"{body}<output>{(i + 1) % 4 + 1}</output>", body][i % 3]
        fields, verdicts = task.parse(values, Completion(text, "stop", 30, 40, 0), first=first)
        tokens = 40 + (first.completion_tokens if first else 0)  # as synth stores a two-step row's
        rows.append(
            {
                "record_id": "", "parent_id": None, "source_index": 0, "sample_idx": 0, "task": task.name,
                "task_version": task.version, "template_hash": task.template_hash(), **fields, "completion": text,
                "finish_reason": "stop", "prompt_tokens": 30, "completion_tokens": tokens, **verdict_fields(verdicts),
            }
        )  # fmt: skip
    return rows


def write_artifact(folder: Path, task_name: str, rows: int, samples: int = 1) -> None:
    """`rows` rows of the pool under distinct ids, `samples` rows per question (benchmarks/scale_memory.py: 4)."""
    task = get_task(task_name)
    schema = traces_schema(task.fields)
    pool = to_table(pool_rows(task_name), schema)
    tile = pa.concat_tables([pool] * (SHARD // POOL + 1)).slice(0, SHARD)
    provenance = {**base_provenance(), "task": task.name, "task_options": {}, "input": {"label": "benchmark"}}
    with ArtifactWriter(folder, schema, {"task": task.name}).open({}) as writer:
        for start in range(0, rows, SHARD):
            n = min(SHARD, rows - start)
            table = tile.slice(0, n)
            span = range(start, start + n)
            columns = {
                "record_id": pa.array([f"{i // samples:016x}" for i in span]),
                "source_index": pa.array([i // samples for i in span], pa.int64()),
                "sample_idx": pa.array([i % samples for i in span], schema.field("sample_idx").type),
            }
            for name, values in columns.items():
                table = table.set_column(schema.get_field_index(name), schema.field(name), values)
            writer.commit(table, provenance)


def bare(folder: Path, task_name: str) -> int:
    task, artifact, seen = get_task(task_name), open_artifact(folder), 0
    for batch in artifact.batches([n for n in artifact.schema.names if n != "messages"]):
        for row in batch.to_pylist():
            completion = Completion(row["completion"], row["finish_reason"], 30, 40, 0)
            first = task.first_from_output(row) if task.two_step else None
            task.parse(task.values_from_output(row), completion, first=first)
            seen += 1
    return seen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--task", default="star", choices=["star", "structured", "reasoning-token"])
    args = parser.parse_args()
    pa.set_cpu_count(1)
    pa.set_io_thread_count(1)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    with tempfile.TemporaryDirectory() as tmp:
        src, out = Path(tmp) / "in", Path(tmp) / "out"
        started = time.perf_counter()
        write_artifact(src, args.task, args.rows)
        build_s = time.perf_counter() - started
        command = [sys.executable, "-m", "harness.cli", "rescore", "--input", str(src), "--output", str(out)]
        started = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, env=env)
        rescore_s = time.perf_counter() - started
        assert done.returncode == 0, done.stderr[-2000:]
        child = resource.getrusage(resource.RUSAGE_CHILDREN)
        flips = json.loads((out / "rescore.json").read_text())["verdicts"]
        started, cpu = time.perf_counter(), time.process_time()
        bare(src, args.task)
        bare_s, bare_cpu = time.perf_counter() - started, time.process_time() - cpu
    result = {
        "task": args.task,
        "rows": args.rows,
        "build_seconds": round(build_s, 1),
        "rescore_seconds": round(rescore_s, 1),
        "rescore_rows_per_s": round(args.rows / rescore_s),
        "rescore_rows_per_cpu_s": round(args.rows / (child.ru_utime + child.ru_stime)),
        "rescore_peak_rss_mib": round(child.ru_maxrss / 1024),
        "bare_rows_per_s": round(args.rows / bare_s),
        "bare_rows_per_cpu_s": round(args.rows / bare_cpu),
        "flips": sum(v["pass_to_fail"] + v["fail_to_pass"] + v["other"] for v in flips.values()),
    }
    result["rescore_vs_bare_cpu"] = round(result["rescore_rows_per_cpu_s"] / result["bare_rows_per_cpu_s"], 2)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
