"""`harness synth --engine vllm` at its default flags against the raw engine given the whole job, as a user
compares them: whole processes, same prompts, engine settings, sampling and seed.

- `harness`: `harness synth --task T --engine vllm --input sample --limit R --max-tokens M --seed 1234
  --threads 1 --no-cache` (the streaming loop, default window), timed from start to exit.
- `raw`: this script as a child process: the same engine (`vllm.LLM` with the harness's engine settings), the
  same prompts (rendered and tokenized as the harness does), ONE `LLM.generate` call on all of them (a
  two-step task: one call for every first step, then one for every follow-up), texts written to Parquet.
- `raw-batch8` (`--batch8`): the raw script calling `LLM.generate` on 8 rows at a time, which is what the
  harness did before streaming (`--batch-size 8`, the old default; it measured 0.999 of this).

Sides alternate (the first-listed first on even repeats), medians are reported with the tok/s ratio.
The issue's sizes are the defaults (256 backfill rows x 256 tokens; thought-variants: 8 questions); on a
shared 2-core CPU use e.g.:

    python benchmarks/synth_vllm_whole.py --rows 32 --max-tokens 64 --repeats 3 --batch8
    python benchmarks/synth_vllm_whole.py --task thought-variants --rows 2 --variants abcdefgh --max-tokens 32
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from tok_s_runs import alternate, summarize  # beside this script

SEED = 1234
HARNESS = [sys.executable, "-m", "harness.cli", "synth"]


def task_args(args) -> list[str]:
    extra = ["--max-tokens", str(args.max_tokens)]
    if args.task == "thought-variants":
        extra = ["--max-thought-tokens", str(args.max_tokens), "--max-answer-tokens", str(args.max_tokens)]
        extra += ["--variants", args.variants] if args.variants else []
    return ["--task", args.task, "--limit", str(args.rows), "--seed", str(SEED), *extra]


def run_harness(args) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out"
        command = [*HARNESS, *task_args(args), "--engine", "vllm", "--input", "sample", "--threads", "1"]
        start = time.perf_counter()
        subprocess.run([*command, "--no-cache", "--output", str(out)], check=True, capture_output=True)
        seconds = time.perf_counter() - start
        table = pq.read_table(out, columns=["completion_tokens"])
        return {"tokens": sum(table.column("completion_tokens").to_pylist()), "seconds": seconds}


def run_raw(args, batch: int | None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        command = [sys.executable, __file__, "--child", str(Path(tmp) / "raw.parquet"), *sys.argv[1:]]
        command += ["--child-batch", str(batch or 0)]
        start = time.perf_counter()
        result = subprocess.run(command, check=True, capture_output=True, text=True)
        seconds = time.perf_counter() - start
        return {"tokens": json.loads(result.stdout.strip().splitlines()[-1])["tokens"], "seconds": seconds}


def child(args) -> None:
    """The raw side: one engine, the rendered prompts, `LLM.generate` on all of them (or in batches)."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    from vllm.inputs import TokensPrompt

    import harness.stages.synth as synth
    from harness.artifacts.sources import open_source
    from harness.config import SamplingOverrides, SynthConfig
    from harness.engines.models import resolve_model
    from harness.engines.vllm_engine import VLLMEngine
    from tasks import get_task

    cfg = SynthConfig(
        task=args.task,
        input="sample",
        output="-",
        sampling=SamplingOverrides(
            seed=SEED, **({} if args.task == "thought-variants" else {"max_tokens": args.max_tokens})
        ),
        task_options=synth_options(args),
    )
    task = get_task(cfg.task, **cfg.task_options)
    params = cfg.sampling.apply(task.defaults)
    columns = {logical: {**task.columns, **synth.SAMPLE_COLUMNS}[logical] for logical in task.columns}
    source = open_source(str(synth.bundled_sample()), columns, "train", task.text_columns)
    rows = [r for r in source.rows() if r.index < args.rows]
    llm_backend = VLLMEngine(resolve_model("default").path, threads=1)
    llm = llm_backend.llm

    def generate(requests, p):
        prompts = [TokensPrompt(prompt_token_ids=llm_backend.prompt_ids(r)) for r in requests]
        size = args.child_batch or len(prompts)
        outs = []
        for i in range(0, len(prompts), size):
            outs += llm.generate(prompts[i : i + size], llm_backend.sampling_params(p), use_tqdm=False)
        return outs

    branches = []
    for row in rows:
        values = {logical: row.values.get(column) for logical, column in columns.items()}
        branches += [(values, variant) for variant in task.variants(values)]
    firsts = generate([task.render(v, variant) for v, variant in branches], params)
    texts = [o.outputs[0].text for o in firsts]
    tokens = sum(len(s.token_ids) for o in firsts for s in o.outputs)
    if task.two_step:
        from harness.engines.base import Completion

        follow = [
            task.follow_up(v, variant, Completion(o.outputs[0].text, o.outputs[0].finish_reason, 0, 0))
            for (v, variant), o in zip(branches, firsts, strict=True)
        ]
        seconds = generate(follow, task.follow_up_params(params))
        texts = [o.outputs[0].text for o in seconds]
        tokens += sum(len(s.token_ids) for o in seconds for s in o.outputs)
    pq.write_table(pa.table({"text": texts}), args.child)
    print(json.dumps({"tokens": tokens}))


def synth_options(args) -> dict[str, Any]:
    if args.task != "thought-variants":
        return {}
    options = {"max_thought_tokens": args.max_tokens, "max_answer_tokens": args.max_tokens}
    return {**options, **({"variants": args.variants} if args.variants else {})}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="backfill", choices=["backfill", "thought-variants"])
    parser.add_argument("--rows", type=int, default=None, help="input rows (256 backfill, 8 thought-variants)")
    parser.add_argument("--max-tokens", type=int, default=256, help="backfill; thought-variants: both budgets")
    parser.add_argument("--variants", default=None, help="thought-variants: the forced characters (62 by default)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch8", action="store_true", help="also the raw side in batches of 8 (the old default)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--child-batch", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.rows = args.rows or (8 if args.task == "thought-variants" else 256)
    if args.child:
        child(args)
        return
    sides = {"harness": lambda: run_harness(args), "raw": lambda: run_raw(args, None)}
    if args.batch8:
        sides["raw-batch8"] = lambda: run_raw(args, 8)
    results = alternate(sides, args.repeats)
    header = f"{args.task}, rows {args.rows}, max_tokens {args.max_tokens}, variants {args.variants}, 1 thread"
    medians, ratio = summarize(results, "raw", header, 0.97 if args.task == "backfill" else 0.95)
    if args.batch8:
        print(f"ratio raw-batch8/raw tok/s: {medians['raw-batch8']['tok_s'] / medians['raw']['tok_s']:.3f}")
    if args.json:
        args.json.write_text(json.dumps({"args": vars(args) | {"json": str(args.json)}, "runs": results,
                                         "median": medians, "ratio_tok_s": ratio}, indent=2, default=str))  # fmt: skip


if __name__ == "__main__":
    main()
