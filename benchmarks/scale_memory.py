"""Peak memory of every row-streaming stage against the number of rows: synth (through the generation cache),
its resume, judge, judge's resume, select, decontam and rescore, each `harness ...` as a child process.

- read: the synth input (below) streamed through `open_source(...).rows()` alone, the reader synth runs: its
  record_ids number repeated rows, so it counts every row's digest.
- synth: `synth_memory.py`'s setup (N distinct backfill rows, the cache filled beforehand with a valid
  completion for each, so every record goes through the loop, the cache, parsing and the committer with no
  engine built); then `resume`: the same command again over the finished output (every id committed, every
  input row read and skipped).
- judge, select, decontam, rescore: a star artifact of N rows written directly (`rescore.py`'s pool of
  parsed completions; 4 samples per question, so N/4 questions), then `judge --judge exact`, the same judge
  command again (`judge-resume`: N/4 committed ids), `select pairs` on the judged rows, `decontam --against
  mmlu` and `rescore` on the star artifact. `judge-source`: the same judge with its gold read from a source
  file of N/4 rows by `source_index` (`--source FILE --col gold=source:solution`). `skip`: what those resumes hold without the judging, where a
  whole judge run would take too long: `done_record_ids()` of the star artifact (opened as its own
  output, every question done) and every question streamed through `question_groups` and found done.

Peak RSS is each child's own `ru_maxrss` (read in a fresh wrapper process per command, so one stage's peak
never hides another's). Inputs and outputs go under --workdir and are deleted after each size.

    python benchmarks/scale_memory.py --sizes 100000 1000000 --stages synth resume
    python benchmarks/scale_memory.py --sizes 100000 1000000 10000000 --stages judge judge-resume select decontam rescore
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rescore import write_artifact  # noqa: E402
from synth_memory import fill_cache, write_input  # noqa: E402

from harness.engines.cache import cache_dir  # noqa: E402

STAGES = ("read", "synth", "resume", "judge", "judge-resume", "judge-source", "skip", "select", "decontam", "rescore")
SAMPLES = 4  # rows per question in the star artifact
# The child's own peak: a wrapper runs the command and reports ru_maxrss of its only child.
WRAP = (
    "import resource, subprocess, sys; r = subprocess.run(sys.argv[1:], capture_output=True, text=True); "
    "sys.stderr.write(r.stderr[-3000:]) if r.returncode else None; "
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); sys.exit(r.returncode)"
)


READ = (
    "import sys; from harness.artifacts.sources import open_source; "
    "rows = open_source(sys.argv[1], {'instruction': 'instruction'}).rows(); print(sum(1 for _ in rows))"
)


# What a resume of judge or select holds, without judging: every committed id, then every question read and
# skipped (on the star artifact itself, opened as its own writer: all its questions are done).
SKIP = (
    "import sys; from pathlib import Path; from harness.artifacts.groups import question_groups; "
    "from harness.artifacts.schemas import traces_schema; from harness.artifacts.writer import ArtifactWriter; "
    "from tasks import get_task; "
    "w = ArtifactWriter(Path(sys.argv[1]), traces_schema(get_task('star').fields), {'task': 'star'}).open({}); "
    "done = w.done_record_ids(); print(len(done), sum(g[0]['record_id'] in done for g in question_groups(w.shards())))"
)


def star_artifact(folder: Path, rows: int) -> None:
    write_artifact(folder, "star", rows, SAMPLES)


def harness(args: list[str], env: dict[str, str]) -> dict[str, float]:
    return child(["-m", "harness.cli", *args], env)


def child(args: list[str], env: dict[str, str]) -> dict[str, float]:
    command = [sys.executable, "-c", WRAP, sys.executable, *args]
    start = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return {"seconds": round(seconds, 1), "peak_rss_mib": round(int(done.stdout.split()[-1]) / 1024, 1)}


def run(size: int, stages: list[str], workdir: Path, select_batch: int | None = None) -> None:
    tmp = Path(tempfile.mkdtemp(prefix=f"rows{size}-", dir=workdir))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    try:
        if "read" in stages:  # synth's input reader alone, where synth itself would take hours
            write_input(tmp / "in.jsonl", size)
            report("read", size, child(["-c", READ, str(tmp / "in.jsonl")], env))
        if {"synth", "resume"} & set(stages):
            cache = tmp / "cache"
            cache.mkdir()
            for shared in ("models", "fingerprints"):  # the converted default model, not converted again
                if (cache_dir() / shared).exists():
                    (cache / shared).symlink_to(cache_dir() / shared)
            if not (tmp / "in.jsonl").exists():
                write_input(tmp / "in.jsonl", size)
            fill_cache(cache, size)
            synth_env = {**env, "HARNESS_CACHE_DIR": str(cache)}
            synth = ["synth", "--input", str(tmp / "in.jsonl"), "--output", str(tmp / "synth")]
            for stage in ("synth", "resume"):
                if stage in stages or stage == "synth":  # resume needs the finished output
                    report(stage, size, harness(synth, synth_env))
            shutil.rmtree(cache)
        others = [s for s in stages if s not in ("synth", "resume")]
        if others:
            star_artifact(tmp / "star", size)
            star, judged = str(tmp / "star"), str(tmp / "judged")
            judge = ["judge", "--input", star, "--output", judged, "--judge", "exact"]
            commands = {
                "judge": judge,
                "judge-resume": judge,
                "select": ["select", "pairs", "--input", judged, "--output", str(tmp / "pairs")]
                + (["--batch-size", str(select_batch)] if select_batch else []),
                "decontam": ["decontam", "--input", star, "--against", "mmlu", "--output", str(tmp / "decontam")],
                "rescore": ["rescore", "--input", star, "--output", str(tmp / "rescore")],
            }
            if "judge-source" in others:  # the gold read from the synth input by source_index: a value per question
                with (tmp / "source.jsonl").open("w") as f:
                    f.writelines(
                        json.dumps({"question": f"q{q}", "solution": str(q)}) + "\n" for q in range(size // SAMPLES)
                    )
                gold = ["--source", str(tmp / "source.jsonl"), "--col", "gold=source:solution"]
                commands["judge-source"] = [*judge[:4], str(tmp / "judged-source"), *judge[5:], *gold]
            if "skip" in others:
                report("skip", size, child(["-c", SKIP, star], env))
            for stage in ("judge", "judge-resume", "judge-source", "select", "decontam", "rescore"):
                if stage in others or (stage == "judge" and {"judge-resume", "select"} & set(others)):
                    report(stage, size, harness(commands[stage], env))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def report(stage: str, size: int, result: dict[str, float]) -> None:
    print(json.dumps({"stage": stage, "rows": size, **result}), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--stages", nargs="+", choices=STAGES, default=list(STAGES))
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()))
    # Fewer questions per select shard: many output shards at a small N, to show per-shard state quickly.
    parser.add_argument("--select-batch-size", type=int, default=None, help="select's --batch-size (default: its own)")
    args = parser.parse_args()
    for size in sorted(args.sizes):
        run(size, args.stages, args.workdir, args.select_batch_size)


if __name__ == "__main__":
    main()
