"""`harness decontam` against all of the bundled MMLU: rows/s on one core (target >= 50,000).

Writes a synthetic artifact (through the real ArtifactWriter, shards of 10k rows) whose rows have an
`instruction`, a `solution` and a `trace` of --words words in all, drawn from MMLU's own questions: the worst
case for the index, since every word is one MMLU has and so every window is hashed and probed. One row in a
hundred carries an MMLU question verbatim. Then, in this process, with pyarrow held to one thread:

- index:     building the n-gram index of all 14,042 MMLU items (question + choices)
- read:      streaming the artifact's rows (the I/O floor)
- decontam:  `run_decontam` end to end: read, normalize, match, write the marked artifact
- naive:     the usual script (lm-eval's Janitor style): Python sets of 13-word tuples, on the first 20,000 rows

Each of read/decontam/naive runs --repeats times, alternated; medians are reported, as rows per wall second and
rows per CPU second of this process (the per-core figure, which other users' load on a shared machine does not
move). decontam's CPU figure leaves out the index build (loading MMLU and hashing it, reported on its own): a run
pays it once, whatever the artifact's size.

    OMP_NUM_THREADS=1 python benchmarks/decontam.py --rows 200000 --words 120 --repeats 3
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import string
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness.artifacts.reader import open_artifact  # noqa: E402
from harness.artifacts.writer import ArtifactWriter, base_provenance  # noqa: E402
from harness.config import DecontamConfig  # noqa: E402
from harness.evalsets.ngrams import NgramIndex  # noqa: E402
from harness.evalsets.registry import load_eval_set  # noqa: E402
from harness.stages.decontam import run_decontam  # noqa: E402

SHARD = 10_000
NAIVE_ROWS = 20_000
SCHEMA = pa.schema(
    [
        pa.field("record_id", pa.string(), nullable=False),
        pa.field("source_index", pa.int64(), nullable=False),
        pa.field("instruction", pa.string()),
        pa.field("solution", pa.string()),
        pa.field("trace", pa.string()),
    ]
)


def write_artifact(folder: Path, rows: int, words: int, questions: list[str]) -> None:
    rng = random.Random(0)
    vocab = [w for q in questions[:2000] for w in q.split()]
    split = (words // 5, words // 5, words - 2 * (words // 5))  # instruction, solution, trace

    def text(n: int) -> str:
        return " ".join(rng.choice(vocab) for _ in range(n))

    with ArtifactWriter(folder, SCHEMA, {"benchmark": "decontam"}).open({}) as writer:
        for start in range(0, rows, SHARD):
            n = min(SHARD, rows - start)
            instructions = [rng.choice(questions) if i % 100 == 0 else text(split[0]) for i in range(n)]
            columns = {
                "record_id": [f"r{i}" for i in range(start, start + n)],
                "source_index": list(range(start, start + n)),
                "instruction": instructions,
                "solution": [text(split[1]) for _ in range(n)],
                "trace": [text(split[2]) for _ in range(n)],
            }
            writer.commit(pa.table(columns, schema=SCHEMA), base_provenance())


def read_all(folder: Path) -> int:
    artifact = open_artifact(folder)
    return sum(b.num_rows for b in artifact.batches(["instruction", "solution", "trace"]))


def naive(folder: Path, texts: list[str], n: int) -> int:
    """lm-eval Janitor-style: normalize in Python, a set of n-word tuples for the eval side, probe each row."""
    table = str.maketrans("", "", string.punctuation)

    def grams(text: str) -> set[tuple[str, ...]]:
        w = text.lower().translate(table).split()
        return {tuple(w[i : i + n]) for i in range(len(w) - n + 1)}

    index = set().union(*(grams(t) for t in texts))
    artifact, hits, seen = open_artifact(folder), 0, 0
    for batch in artifact.batches(["instruction", "solution", "trace"]):
        for row in batch.to_pylist():
            hits += any(grams(row[c] or "") & index for c in ("instruction", "solution", "trace"))
            seen += 1
            if seen >= NAIVE_ROWS:
                return hits
    return hits


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--words", type=int, default=120, help="words per row, over its three text columns")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    pa.set_cpu_count(1)  # one core: Arrow's compute kernels would use every core otherwise
    pa.set_io_thread_count(1)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "in"
        questions = [t.split("\n")[0] for t in load_eval_set("mmlu").texts]
        write_artifact(folder, args.rows, args.words, questions)
        started, cpu = time.perf_counter(), time.process_time()
        mmlu = load_eval_set("mmlu")
        index = NgramIndex(mmlu.texts, 13)
        index_s, index_cpu = time.perf_counter() - started, time.process_time() - cpu
        times: dict[str, list[float]] = {"read": [], "decontam": [], "naive": []}
        cpus: dict[str, list[float]] = {mode: [] for mode in times}
        contaminated = 0
        for repeat in range(args.repeats):
            for mode in times:
                started, cpu = time.perf_counter(), time.process_time()
                if mode == "read":
                    read_all(folder)
                elif mode == "decontam":
                    cfg = DecontamConfig(input=str(folder), output=str(Path(tmp) / f"out{repeat}"))
                    contaminated = run_decontam(cfg).contaminated
                else:
                    naive(folder, mmlu.texts, 13)
                times[mode].append(time.perf_counter() - started)
                cpus[mode].append(time.process_time() - cpu - (index_cpu if mode == "decontam" else 0))
    rows = {"read": args.rows, "decontam": args.rows, "naive": min(NAIVE_ROWS, args.rows)}
    result = {
        "rows": args.rows,
        "words_per_row": args.words,
        "mmlu_items": len(mmlu.texts),
        "eval_ngrams": index.ngrams,
        "index_seconds": round(index_s, 2),
        "index_cpu_seconds": round(index_cpu, 2),
        "contaminated": contaminated,
        **{f"{m}_rows_per_s": round(rows[m] / statistics.median(t)) for m, t in times.items()},
        **{f"{m}_rows_per_cpu_s": round(rows[m] / statistics.median(t)) for m, t in cpus.items()},
    }
    result["decontam_vs_naive"] = round(result["decontam_rows_per_cpu_s"] / result["naive_rows_per_cpu_s"], 1)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
