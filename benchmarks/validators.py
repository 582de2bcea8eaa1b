"""The structured validators over 1M synthetic completions streamed from Parquet: rows/s per core, peak memory.

First writes a Parquet file of synthetic rows (completion, question, choices, answer) in a temp dir: a mix of
valid traces and every kind of invalid one (missing or misordered tags, short sections, placeholders, generic
phrases, chatty output, wrong answers, "<" inside sections). Then each mode runs in its own fresh process (so
peak RSS is that mode's alone), one thread, streaming the file in batches:

- read:       stream the Parquet file into Python strings; nothing else (the I/O floor)
- baseline:   read + a bare one-regex format check per row, the usual hand-written GRPO format reward
              (`<think>.*?</think>\\s*<output>.*?</output>`)
- structure:  read + parse + the structure verdict (card rule 1)
- validators: read + every verdict the task gives (every format rule + correctness), as `harness synth` does
- rewards:    read + the 8 TRL reward functions called on each batch (each parses the completion again)

rows/s counts the validator work only (read time subtracted per batch); `with read` includes the Parquet
stream. The ratio column is the mode's validator rows/s over the baseline's, from the same run: on a shared
machine absolute rates move with other users' load, the ratio much less. With --repeats N the modes run N
times, interleaved, and the fastest run of each is reported.

    OMP_NUM_THREADS=1 python benchmarks/validators.py --rows 1000000 --repeats 2
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

BATCH = 8192
POOL = 50_000  # distinct completions; rows draw from them (no validator caches on the completion text)
QUESTIONS = 20_000  # distinct questions (the reference check caches 4096 problems, as a real run repeats them)
MODES = ("read", "baseline", "structure", "validators", "rewards")
BARE_FORMAT = re.compile(r"^\s*<think>.*?</think>\s*<output>.*?</output>\s*$", re.DOTALL)

WORD_TEXT = (
    "the planet orbit closest value compare option order first second third because therefore so then step "
    "distance measure check result answer given question smaller larger equal sum product number total each "
    "which confirms rejects reason known fact consistent since implies count"
)
WORDS = WORD_TEXT.split()
KINDS = {  # kind: share of rows
    "valid": 0.50,
    "short_section": 0.10,
    "missing_tag": 0.08,
    "truncated": 0.04,
    "wrong_order": 0.04,
    "placeholder": 0.05,
    "forbidden_phrase": 0.05,
    "chatty_output": 0.05,
    "wrong_answer": 0.05,
    "less_than_inside": 0.04,
}


# -- data ------------------------------------------------------------------------------------------------
def question(rng: random.Random, i: int) -> dict:
    a, b = rng.randint(2, 999), rng.randint(2, 999)
    choices = [str(a + b + d) for d in rng.sample(range(-9, 10), 4)]
    gold = rng.randrange(4)
    choices[gold] = str(a + b)
    return {
        "question": f"Problem {i}: what is the total of {a} and {b} units?",
        "choices": choices,
        "answer": gold,
        "a": a,
        "b": b,
    }


def words(rng: random.Random, n: int) -> str:
    return " ".join(rng.choices(WORDS, k=n))


def trace(rng: random.Random, q: dict, kind: str) -> str:
    a, b, gold = q["a"], q["b"], q["answer"] + 1
    planning = f"The question gives {a} and {b}. " + words(rng, rng.randint(45, 70)) + "."
    monitoring = f"Step 1: {a} + {b} = {a + b}. " + words(rng, rng.randint(85, 130)) + "."
    evaluation = f"The total {a + b} is option {gold}. " + words(rng, rng.randint(45, 70)) + "."
    output = str(gold)
    if kind == "short_section":
        monitoring = f"Step 1: {a} + {b} = {a + b}. " + words(rng, rng.randint(20, 60))
    elif kind == "placeholder":
        evaluation = evaluation + "\n- \n..."
    elif kind == "forbidden_phrase":
        planning = "Let me think about this. " + planning
    elif kind == "chatty_output":
        output = f"The answer is option {gold} because {a} + {b} = {a + b}."
    elif kind == "wrong_answer":
        output = str(gold % 4 + 1)
    elif kind == "less_than_inside":
        monitoring += f" Since {min(a, b)} < {max(a, b)} the order holds."
    text = (
        f"<think>\n<planning>\n{planning}\n</planning>\n<monitoring>\n{monitoring}\n</monitoring>\n"
        f"<evaluation>\n{evaluation}\n</evaluation>\n</think>\n<output>\n{output}\n</output>"
    )
    if kind == "missing_tag":
        tag = rng.choice(["<think>", "</planning>", "<monitoring>", "</evaluation>", "<output>"])
        text = text.replace(tag, "", 1)
    elif kind == "truncated":
        text = text[: rng.randint(50, len(text) - 20)]
    elif kind == "wrong_order":
        text = text.replace("<planning>", "<tmp>").replace("</planning>", "</tmp>")
        text = text.replace("<evaluation>", "<planning>").replace("</evaluation>", "</planning>")
        text = text.replace("<tmp>", "<evaluation>").replace("</tmp>", "</evaluation>")
    return text


def write_rows(path: Path, rows: int, seed: int = 0) -> dict[str, int]:
    rng = random.Random(seed)
    questions = [question(rng, i) for i in range(QUESTIONS)]
    kinds = rng.choices(list(KINDS), weights=list(KINDS.values()), k=POOL)
    pool = []
    for kind in kinds:
        q = rng.choice(questions)
        pool.append((trace(rng, q, kind), q))
    schema = pa.schema(
        [
            ("completion", pa.string()),
            ("question", pa.string()),
            ("choices", pa.list_(pa.string())),
            ("answer", pa.int64()),
        ]
    )
    counts = dict.fromkeys(KINDS, 0)
    with pq.ParquetWriter(path, schema, compression="zstd") as writer:
        for start in range(0, rows, BATCH):
            picks = [rng.randrange(POOL) for _ in range(min(BATCH, rows - start))]
            for p in picks:
                counts[kinds[p]] += 1
            batch = {
                "completion": [pool[p][0] for p in picks],
                "question": [pool[p][1]["question"] for p in picks],
                "choices": [pool[p][1]["choices"] for p in picks],
                "answer": [pool[p][1]["answer"] for p in picks],
            }
            writer.write_table(pa.Table.from_pydict(batch, schema=schema))
    return counts


# -- one mode, in its own process ------------------------------------------------------------------------
def measure(path: Path, mode: str) -> dict:
    from judges.structured_format import Settings, parse_trace, structure, validate
    from judges.structured_rewards import structured_rewards
    from judges.token_count import TokenCounter

    settings = Settings(tokens=TokenCounter("default"))
    if mode in ("validators", "rewards"):
        settings.tokens.count("warm up")  # loads the tokenizer (and transformers) before the clock starts
    rewards = structured_rewards(settings)
    before_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    rows = passed = 0
    work = 0.0
    start = time.perf_counter()
    for batch in pq.ParquetFile(path, pre_buffer=False).iter_batches(batch_size=BATCH, use_threads=False):
        texts = batch.column("completion").to_pylist()
        columns = (
            {}
            if mode in ("read", "baseline", "structure")
            else {n: batch.column(n).to_pylist() for n in ("question", "choices", "answer")}
        )
        t0 = time.perf_counter()
        if mode == "baseline":
            passed += sum(1 for text in texts if BARE_FORMAT.match(text))
        elif mode == "structure":
            passed += sum(structure(parse_trace(text), {}, settings).passed for text in texts)
        elif mode == "validators":
            keys = list(columns)
            for text, *values in zip(texts, *(columns[k] for k in keys), strict=True):
                passed += all(v.passed for v in validate(text, dict(zip(keys, values, strict=True)), settings))
        elif mode == "rewards":
            scores = [reward(texts, **columns) for reward in rewards]
            passed += sum(all(s == 1.0 for s in row) for row in zip(*scores, strict=True))
        work += time.perf_counter() - t0
        rows += len(texts)
    total = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "mode": mode,
        "rows": rows,
        "passed": passed,
        "work_s": work,
        "total_s": total,
        "rss_before_mb": before_mb,
        "peak_rss_mb": peak_mb,
    }


# -- driver ----------------------------------------------------------------------------------------------
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--modes", default=",".join(MODES))
    parser.add_argument("--repeats", type=int, default=1, help="runs per mode, interleaved; the fastest is kept")
    parser.add_argument("--measure", help=argparse.SUPPRESS)  # internal: run one mode on --file
    parser.add_argument("--generate", type=int, help=argparse.SUPPRESS)  # internal: write --file
    parser.add_argument("--file", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(Path(args.file), args.measure)))
        return
    if args.generate:
        print(json.dumps(write_rows(Path(args.file), args.generate)))
        return

    # Every step runs in a child process: Linux children inherit the parent's peak RSS at fork, so the
    # parent stays small and holds no data.
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "completions.parquet"
        t0 = time.perf_counter()
        counts = child(["--generate", str(args.rows), "--file", str(path)], env)
        size = path.stat().st_size / 1e6
        print(f"wrote {args.rows} rows ({size:.0f} MB Parquet) in {time.perf_counter() - t0:.0f}s", file=sys.stderr)
        results: dict[str, dict] = {}
        for _ in range(args.repeats):  # interleaved, so a burst of load from elsewhere hits one run, not one mode
            for mode in args.modes.split(","):
                run = child(["--measure", mode, "--file", str(path)], env)
                print(f"{mode}: {run}", file=sys.stderr)
                if mode not in results or run["work_s"] < results[mode]["work_s"]:
                    results[mode] = run
    report(args.rows, counts, results)


def child(args: list[str], env: dict[str, str]) -> dict:
    out = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True, env=env, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def report(rows: int, counts: dict[str, int], results: dict[str, dict]) -> None:
    base = results.get("baseline")
    base_rate = base["rows"] / base["work_s"] if base else None
    print(f"{rows} rows; mix: " + ", ".join(f"{k} {v / rows:.0%}" for k, v in counts.items()))
    print(f"load average at the end: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print(
        f"{platform.processor() or platform.machine()}, Python {platform.python_version()}, 1 thread, {os.cpu_count()} cores on the machine\n"
    )
    print(
        "| mode | rows/s (validator work) | rows/s with read | x baseline | passed | peak RSS MB | of which streaming |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for mode, r in results.items():
        rate = r["rows"] / r["work_s"] if r["work_s"] else float("inf")
        ratio = f"{rate / base_rate:.2f}" if base_rate and mode != "read" else "-"
        shown = f"{rate:,.0f}" if mode != "read" else "-"
        growth = r["peak_rss_mb"] - r["rss_before_mb"]
        print(
            f"| {mode} | {shown} | {r['rows'] / r['total_s']:,.0f} | {ratio} | {r['passed']:,} "
            f"| {r['peak_rss_mb']:.0f} | {growth:.0f} |"
        )


if __name__ == "__main__":
    main()
