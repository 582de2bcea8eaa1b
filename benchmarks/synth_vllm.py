"""`harness synth` on the vllm engine against raw `vllm.LLM.generate`: same engine, prompts, params and seeds.

Both sides use one engine instance (built once, untimed), so only what the harness adds is measured: reading
the input, rendering and tokenizing, the streaming loop, parsing, and the Parquet writes. The harness streams
every row through the engine (its default window); the raw side renders the same chat-template prompts, calls
`llm.generate` on batches of `--batch-size` (default: all rows in one call, the whole job) and counts tokens.
For whole processes (engine start-up included) see `synth_vllm_whole.py`. The
prefix cache is emptied before every timed run, so neither side reuses the other's prompt KV. Which side
goes first alternates from one repeat to the next, after one untimed warm-up of each; medians are reported.

    python benchmarks/synth_vllm.py --rows 32 --max-tokens 128 --repeats 3
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")  # as the engine sets it on CPU

from rich.console import Console  # noqa: E402
from tok_s_runs import alternate, summarize  # noqa: E402  # beside this script

import harness.engines.session as plumbing  # noqa: E402
import harness.stages.synth as synth  # noqa: E402
from harness.config import SamplingOverrides, SynthConfig  # noqa: E402
from harness.engines.models import resolve_model  # noqa: E402
from tasks.backfill import PRIMER, SYSTEM_PROMPT, USER_TEMPLATE, BackfillTask  # noqa: E402

SEED = 1234
PARAMS = BackfillTask.defaults  # temperature 0.7, top_p 0.9, min_p 0.05, stop <|im_end|>


def run_harness(backend, rows: int, batch_size: int, max_tokens: int) -> dict[str, float]:
    backend.llm.reset_prefix_cache()
    original = plumbing.make_engine
    plumbing.make_engine = lambda *a, **k: backend  # the engine already built, shared with the raw side
    try:
        with tempfile.TemporaryDirectory() as tmp:
            cfg = SynthConfig(
                task="backfill",
                input="sample",
                output=str(Path(tmp) / "out"),
                limit=rows,
                batch_size=batch_size,
                cache=False,
                sampling=SamplingOverrides(max_tokens=max_tokens, seed=SEED),
            )
            start = time.perf_counter()
            summary = synth.run_synth(cfg, Console(quiet=True))
            seconds = time.perf_counter() - start
    finally:
        plumbing.make_engine = original
    return {"rows": summary.rows_in, "tokens": summary.generated_tokens, "seconds": seconds}


def run_raw(llm, rows: list[dict[str, Any]], batch_size: int, max_tokens: int) -> dict[str, float]:
    from vllm import SamplingParams

    llm.reset_prefix_cache()
    tokenizer = llm.get_tokenizer()
    params = SamplingParams(
        temperature=PARAMS.temperature,
        top_p=PARAMS.top_p,
        min_p=PARAMS.min_p,
        max_tokens=max_tokens,
        seed=SEED,
        stop_token_ids=[tokenizer.convert_tokens_to_ids("<|im_end|>")],
    )
    tokens = 0
    start = time.perf_counter()
    for i in range(0, len(rows), batch_size):
        texts = [
            tokenizer.apply_chat_template(
                [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": USER_TEMPLATE.format(**r)}],
                tokenize=False,
                add_generation_prompt=True,
            )
            + PRIMER
            for r in rows[i : i + batch_size]
        ]
        for out in llm.generate(texts, params, use_tqdm=False):
            tokens += sum(len(o.token_ids) for o in out.outputs)
    return {"rows": len(rows), "tokens": tokens, "seconds": time.perf_counter() - start}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=None, help="raw side's rows per call (all)")
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    args.batch_size = args.batch_size or args.rows

    from harness.engines.vllm_engine import VLLMEngine

    backend = VLLMEngine(resolve_model("default").path, threads=args.threads)
    backend.close = lambda: None  # run_synth closes its engine; this one is shared and reused
    sample = synth.bundled_sample().read_text(encoding="utf-8").splitlines()
    rows = [{k: json.loads(line)[k] for k in ("instruction", "solution")} for line in sample[: args.rows]]
    run_harness(backend, args.batch_size, args.batch_size, 8)  # warm-ups: first-call costs, untimed
    run_raw(backend.llm, rows[: args.batch_size], args.batch_size, 8)

    sides = {
        "harness": lambda: run_harness(backend, args.rows, args.batch_size, args.max_tokens),
        "raw": lambda: run_raw(backend.llm, rows, args.batch_size, args.max_tokens),
    }
    results = alternate(sides, args.repeats)
    header = f"rows {args.rows}, batch {args.batch_size}, max_tokens {args.max_tokens}, threads {args.threads}"
    medians, ratio = summarize(results, "raw", header, 0.97)
    if args.json:
        report = {"args": vars(args) | {"json": str(args.json)}, "engine": backend.describe(), "runs": results}
        args.json.write_text(json.dumps({**report, "median": medians, "ratio_tok_s": ratio}, indent=2))


if __name__ == "__main__":
    main()
