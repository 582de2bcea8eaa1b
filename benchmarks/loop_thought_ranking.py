"""`harness loop thought-ranking` against the four stages it chains, called by hand, on the same round.

One round on the default model (transformers, CPU): synth thought-variants -> judge rank -> select best-of-n ->
decontam -> train sft. The loop side is `run_thought_ranking_loop` with `rounds=1` (the shipped thought-ranking
pipeline through the pipeline runner); the stages side calls `run_synth`, `run_judge`, `run_select`,
`run_decontam` and `run_train` itself with the same settings, as a user would at the shell without the loop. The
difference is the loop's own work: the judge check before round 1, the plan and its checks, fingerprints,
pipeline.json, loop.json and the closing report.

Each side runs in a fresh process with its own empty generation cache (so neither replays the other's
generations) sharing one converted default model; sides alternate which goes first; medians are reported.

    OMP_NUM_THREADS=1 python benchmarks/loop_thought_ranking.py --repeats 3
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

QUESTIONS = Path(__file__).parents[1] / "tests" / "fixtures" / "thought_variants_questions.jsonl"


def loop_config(args, output: str):
    from harness.config import ThoughtRankingConfig

    return ThoughtRankingConfig(
        input=str(QUESTIONS),
        output=output,
        rounds=1,
        threads=1,
        task_options={"variants": args.variants, "max_thought_tokens": args.thought, "max_answer_tokens": args.answer},
        judge={"max_tokens": args.judge_tokens, "rank_chunk": args.rank_chunk},
        train={"max_steps": args.steps, "batch_size": 2, "max_length": 128},
    )


def run_loop(args, output: str) -> None:
    from rich.console import Console

    from harness.pipeline.loops import run_thought_ranking_loop

    run = run_thought_ranking_loop(loop_config(args, output), Console(quiet=True))
    assert run.rounds["final_model"], run.stopped


def run_stages(args, output: str) -> None:
    from rich.console import Console

    from harness.config import DecontamConfig, JudgeConfig, SelectConfig, SynthConfig
    from harness.stages.decontam import run_decontam
    from harness.stages.judge import run_judge
    from harness.stages.select import run_select
    from harness.stages.synth import run_synth
    from harness.stages.train import load_train_config, run_train

    cfg, quiet, root = loop_config(args, output), Console(quiet=True), Path(output)
    synth = SynthConfig(
        task="thought-variants",
        input=cfg.input,
        output=str(root / "variants"),
        task_options=cfg.task_options,
        threads=1,
    )
    run_synth(synth, quiet)
    judge = cfg.judge
    run_judge(
        JudgeConfig(
            input=synth.output,
            output=str(root / "judged"),
            judges=["rank"],
            max_tokens=judge.max_tokens,
            rank_chunk=judge.rank_chunk,
            threads=1,
        ),
        quiet,
    )
    run_select(
        SelectConfig(mode="best-of-n", input=str(root / "judged"), output=str(root / "sft"), judge="rank"), quiet
    )
    run_decontam(DecontamConfig(input=str(root / "sft"), output=str(root / "clean"), against=["mmlu"]), quiet)
    train = {**cfg.train, "input": str(root / "clean"), "output": str(root / "model"), "threads": 1}
    run_train(load_train_config("sft", "thought-ranking-sft", train), quiet, "thought-ranking-sft")


def one(side: str, args, models: Path) -> float:
    """One side in a fresh process with its own cache (the converted model shared); its wall seconds."""
    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(tmp) / "cache"
        cache.mkdir()
        (cache / "models").symlink_to(models, target_is_directory=True)
        command = [sys.executable, __file__, "--side", side, "--out", str(Path(tmp) / "run"), *passed(args)]
        env = {**os.environ, "HARNESS_CACHE_DIR": str(cache)}
        done = subprocess.run(command, capture_output=True, text=True, check=False, env=env)
        if done.returncode != 0:
            raise SystemExit(f"{side} failed:\n{done.stderr[-3000:]}")
        return float(done.stdout.strip().splitlines()[-1])


def passed(args) -> list[str]:
    names = ("variants", "thought", "answer", "judge_tokens", "rank_chunk", "steps")
    return [part for name in names for part in (f"--{name.replace('_', '-')}", str(getattr(args, name)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variants", default="abcd")
    parser.add_argument("--thought", type=int, default=12, help="thought tokens")
    parser.add_argument("--answer", type=int, default=16, help="answer tokens")
    parser.add_argument("--judge-tokens", type=int, default=8)
    parser.add_argument("--rank-chunk", type=int, default=4)
    parser.add_argument("--steps", type=int, default=2, help="SFT steps")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--side", choices=["loop", "stages"], help=argparse.SUPPRESS)  # internal: one run
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.side:
        start = time.perf_counter()
        (run_loop if args.side == "loop" else run_stages)(args, args.out)
        print(time.perf_counter() - start)
        return

    from harness.engines.models import resolve_model

    models = Path(resolve_model("default").path).parent  # converted once, here, outside the clocks
    runs: dict[str, list[float]] = {"loop": [], "stages": []}
    for repeat in range(args.repeats):
        for side in ("loop", "stages") if repeat % 2 == 0 else ("stages", "loop"):
            runs[side].append(one(side, args, models))
            print(f"repeat {repeat + 1} {side}: {runs[side][-1]:.1f}s", file=sys.stderr)
    medians = {side: statistics.median(seconds) for side, seconds in runs.items()}
    result = {
        "settings": {k: v for k, v in vars(args).items() if k not in ("side", "out")},
        "load_average": os.getloadavg(),
        "runs": runs,
        "median_seconds": medians,
        "ratio_loop_over_stages": medians["loop"] / medians["stages"],
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
