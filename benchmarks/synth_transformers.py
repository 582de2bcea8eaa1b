"""`harness synth` (transformers engine) against raw `transformers` generate: same prompts, params, seeds.

Both sides exclude one-time model load. The raw model loads before its clock starts; run_synth loads its
model inside the call, so the seconds spent in `make_engine` are measured (by wrapping it) and subtracted
from the run_synth wall time. Everything else run_synth does counts: reading the input, rendering,
tokenizing, generating, parsing, Parquet writes. The raw side times render + tokenize + generate + decode.
Runs alternate (harness, raw, harness, raw, ...) after one small warm-up of each; medians are reported.

    python benchmarks/synth_transformers.py --rows 32 --batch-size 16 --max-tokens 128 --repeats 3
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from importlib.resources import files
from pathlib import Path
from typing import Any

import torch
import transformers
from rich.console import Console
from tok_s_runs import print_rep, summarize  # beside this script
from transformers import AutoModelForCausalLM, AutoTokenizer
from transformers.utils import logging as hf_logging

import harness.engines.session as plumbing
import harness.stages.synth as synth
from harness.artifacts.writer import git_revision
from harness.config import SamplingOverrides, SynthConfig
from harness.engines.models import resolve_model
from tasks.backfill import PRIMER, SYSTEM_PROMPT, USER_TEMPLATE, BackfillTask

SEED = 1234
PARAMS = BackfillTask.defaults  # temperature 0.7, top_p 0.9, min_p 0.05, stop <|im_end|>


def run_harness(rows: int, batch_size: int, max_tokens: int, threads: int) -> dict[str, float]:
    load = 0.0
    make_engine = plumbing.make_engine  # where stages build engines

    def timed_make_engine(*args: Any, **kwargs: Any) -> Any:
        nonlocal load
        start = time.perf_counter()
        backend = make_engine(*args, **kwargs)
        load += time.perf_counter() - start
        return backend

    with tempfile.TemporaryDirectory() as tmp:
        cfg = SynthConfig(
            task="backfill",
            input="sample",
            output=str(Path(tmp) / "out"),
            limit=rows,
            batch_size=batch_size,
            threads=threads,
            cache=False,
            sampling=SamplingOverrides(max_tokens=max_tokens, seed=SEED),
        )
        plumbing.make_engine = timed_make_engine
        try:
            start = time.perf_counter()
            summary = synth.run_synth(cfg, Console(quiet=True))
            wall = time.perf_counter() - start
        finally:
            plumbing.make_engine = make_engine
    return {"rows": summary.rows_in, "tokens": summary.generated_tokens, "seconds": wall - load, "load": load}


def load_raw(path: str, threads: int) -> tuple[Any, Any]:
    hf_logging.disable_progress_bar()
    torch.set_num_threads(threads)
    tokenizer = AutoTokenizer.from_pretrained(path)
    tokenizer.padding_side = "left"
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()
    return tokenizer, model


def run_raw(tokenizer: Any, model: Any, rows: list[dict[str, Any]], batch_size: int, max_tokens: int) -> dict:
    end_id = tokenizer.convert_tokens_to_ids("<|im_end|>")
    tokens = 0
    start = time.perf_counter()
    for i in range(0, len(rows), batch_size):
        texts = [
            tokenizer.apply_chat_template(
                [
                    {"role": "system", "content": SYSTEM_PROMPT},
                    {"role": "user", "content": USER_TEMPLATE.format(**row)},
                ],
                tokenize=False,
                add_generation_prompt=True,
            )
            + PRIMER
            for row in rows[i : i + batch_size]
        ]
        batch = tokenizer(texts, add_special_tokens=False, padding=True, return_tensors="pt")
        torch.manual_seed(SEED)  # once per batch, as the harness engine does
        with torch.inference_mode():
            out = model.generate(
                **batch,
                max_new_tokens=max_tokens,
                do_sample=True,
                temperature=PARAMS.temperature,
                top_p=PARAMS.top_p,
                min_p=PARAMS.min_p,
                top_k=None,
                eos_token_id=end_id,
                pad_token_id=tokenizer.pad_token_id,
            )
        for ids in out[:, batch["input_ids"].shape[1] :].tolist():
            used = ids.index(end_id) + 1 if end_id in ids else len(ids)  # the end-of-turn token counts
            tokens += used
            tokenizer.decode(ids[:used], skip_special_tokens=False)
    return {"rows": len(rows), "tokens": tokens, "seconds": time.perf_counter() - start}


def cpu_name() -> str:
    lines = Path("/proc/cpuinfo").read_text().splitlines() if Path("/proc/cpuinfo").exists() else []
    return next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")), platform.machine())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()

    sample = (files("harness") / "data" / "backfill_sample.jsonl").read_text(encoding="utf-8").splitlines()
    rows = [{k: json.loads(line)[k] for k in ("instruction", "solution")} for line in sample[: args.rows]]
    tokenizer, model = load_raw(resolve_model("default").path, args.threads)
    run_harness(args.batch_size, args.batch_size, 8, args.threads)  # warm-ups: first-call costs, untimed
    run_raw(tokenizer, model, rows[: args.batch_size], args.batch_size, 8)

    results: dict[str, list[dict]] = {"harness": [], "raw": []}
    for rep in range(args.repeats):
        results["harness"].append(run_harness(args.rows, args.batch_size, args.max_tokens, args.threads))
        results["raw"].append(run_raw(tokenizer, model, rows, args.batch_size, args.max_tokens))
        for name in results:
            r = results[name][-1]
            r["tok_s"], r["rows_s"] = r["tokens"] / r["seconds"], r["rows"] / r["seconds"]
            r["loadavg_1m"] = os.getloadavg()[0]  # well above --threads: something else shared the cores
        print_rep(rep, args.repeats, results)

    header = f"rows {args.rows}, batch {args.batch_size}, max_tokens {args.max_tokens}, threads {args.threads}"
    medians, ratio = summarize(results, "raw", header, 0.95, keys=("tokens", "seconds", "tok_s", "rows_s"))
    if args.json:
        meta = {"torch": torch.__version__, "transformers": transformers.__version__, "cpu": cpu_name()}
        meta["git_revision"] = git_revision()
        report = {"args": {k: str(v) for k, v in vars(args).items()}, **meta, "runs": results, "median": medians}
        args.json.write_text(json.dumps({**report, "ratio_tok_s": ratio}, indent=2))


if __name__ == "__main__":
    main()
