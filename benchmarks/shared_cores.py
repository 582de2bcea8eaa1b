"""CPU engine decoding speed when other processes share the cores (issue 16, item 6).

The README demo's engine (transformers, the default model) decodes greedily in a fresh process per
measurement (OpenMP settings are read when torch loads), with the machine "as idle as it gets" and with BUSY
CPU-bound processes beside it; settings and loads alternate, medians are reported:

    python benchmarks/shared_cores.py [--rounds 3] [--tokens 64] [--busy 2]

Settings: `threads=all` (torch intra-op threads on every core, OpenMP's default wait policy: threads spin at
barriers: the default before issue 16), `threads=all passive` (OMP_WAIT_POLICY=PASSIVE: a waiting thread sleeps
instead of spinning) and `default` (the harness now: the cores idle when the engine starts,
harness/scale/cpu_threads.py). tok/s is decoding only (the model is loaded and warmed up first).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

SETTINGS = {
    "threads=all": {"threads": "all"},
    "threads=all passive": {"threads": "all", "OMP_WAIT_POLICY": "PASSIVE"},
    "default": {},
}


def child(tokens: int, threads: str | None) -> None:
    """In a fresh process: load the default model on the transformers engine, warm up, time one generation."""
    from harness.engines.base import Request, SamplingParams
    from harness.engines.models import resolve_model
    from harness.engines.transformers_engine import TransformersEngine

    count = len(os.sched_getaffinity(0)) if threads == "all" else None
    engine = TransformersEngine(resolve_model("default").path, device="cpu", threads=count)
    request = [Request(messages=({"role": "user", "content": "Explain why the sky is blue, step by step."},))]
    engine.generate(request, SamplingParams(temperature=0, max_tokens=4))  # warm-up
    started = time.perf_counter()
    out = engine.generate(request, SamplingParams(temperature=0, max_tokens=tokens))
    seconds = time.perf_counter() - started
    generated = out[0][0].completion_tokens
    print(json.dumps({"tok_s": generated / seconds, "threads": engine._torch.get_num_threads()}))


def measure(setting: dict[str, str], tokens: int) -> dict:
    env = {**os.environ, **{k: v for k, v in setting.items() if k != "threads"}}
    env.pop("OMP_NUM_THREADS", None)
    command = [sys.executable, __file__, "--child", "--tokens", str(tokens)]
    command += ["--threads", setting["threads"]] if "threads" in setting else []
    run = subprocess.run(command, capture_output=True, text=True, env=env, check=True)
    return json.loads(run.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--busy", type=int, default=2)
    parser.add_argument("--child", action="store_true")
    parser.add_argument("--threads")
    args = parser.parse_args()
    if args.child:
        child(args.tokens, args.threads)
        return
    results: dict[tuple[str, str], list[float]] = {}
    loaded = f"{args.busy} busy"
    for _ in range(args.rounds):
        for name, setting in SETTINGS.items():
            for load in ("idle", loaded):
                busy = args.busy if load != "idle" else 0
                hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(busy)]
                try:
                    got = measure(setting, args.tokens)
                finally:
                    for hog in hogs:
                        hog.kill()
                        hog.wait()
                results.setdefault((name, load), []).append(got["tok_s"])
                print(f"{name:20} {load:7} {got['tok_s']:6.1f} tok/s  threads {got['threads']}  "
                      f"(load average {os.getloadavg()[0]:.1f})", flush=True)  # fmt: skip
    print(f"\nmedians; a fair share with {args.busy} busy processes is {len(os.sched_getaffinity(0))} cores shared "
          f"by {args.busy + 1} processes, so the target is loaded >= half of idle x that share:")  # fmt: skip
    share = min(1.0, len(os.sched_getaffinity(0)) / (args.busy + 1))
    for name in SETTINGS:
        idle, busy = statistics.median(results[(name, "idle")]), statistics.median(results[(name, loaded)])
        print(f"{name:20} idle {idle:6.1f}  loaded {busy:6.1f}  loaded/idle {busy / idle:.2f}  "
              f"target {0.5 * share:.2f}  {'ok' if busy / idle >= 0.5 * share else 'BELOW'}")  # fmt: skip


if __name__ == "__main__":
    main()
