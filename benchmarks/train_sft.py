"""`harness train sft` against raw TRL `SFTTrainer`: same model, data, chat template and training arguments.

Each repetition runs each side in its own fresh process (so neither inherits the other's allocator or thread
state), alternating which side goes first. Seconds per step is Trainer's own `train_runtime / steps` on both
sides (the optimizer loop: data collation, forward, backward, step, logging); model loading and saving are
outside it, and are reported separately as the end-to-end wall time of each process's work.

- harness: `run_train` (reads the JSONL through the stage, loads the model, builds the adapter's trainer,
  logs every step to training_log.jsonl and the console, saves the model folder with its provenance).
- raw: the script loads the same float32 model and tokenizer, sets the same chat template, and calls
  `SFTTrainer(...).train()` with an `SFTConfig` holding the same values (bf16 and gradient checkpointing off,
  as the harness sets them on CPU), then `save_model`.

    OMP_NUM_THREADS=1 python benchmarks/train_sft.py --rows 32 --batch-size 4 --max-length 256 --steps 8 --repeats 3

`--processes N` runs both sides under the same `accelerate launch --multi_gpu --num_processes N` (DDP; gloo on
a CPU): the harness side is `run_train` in every process, the raw side the same SFTTrainer script in every
process (with `ddp_find_unused_parameters=False`, as the harness sets it, so both do the same work per step).
The main process's timings are reported; `--batch-size` is per process.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ASSISTANT = "{a} plus {b} is {c}: start from {a}, count {b} more, and you reach {c}. So the sum is {c}."


def conversations(rows: int) -> list[dict]:
    return [
        {
            "messages": [
                {"role": "system", "content": "You are a careful tutor who explains sums."},
                {"role": "user", "content": f"What is {i + 3} + {2 * i + 5}? Explain."},
                {"role": "assistant", "content": ASSISTANT.format(a=i + 3, b=2 * i + 5, c=3 * i + 8)},
            ]
        }
        for i in range(rows)
    ]


def settings(args) -> dict:
    return {
        "learning_rate": 1e-5,
        "batch_size": args.batch_size,
        "max_length": args.max_length,
        "max_steps": args.steps,
        "assistant_only_loss": True,
        "chat_template": "chatml",
        "seed": 0,
    }


def run_harness(data: str, out: str, args) -> dict:
    from harness.config import TrainConfig
    from harness.stages.train import run_train

    start = time.perf_counter()
    summary = run_train(TrainConfig(method="sft", input=data, output=out, **settings(args)))
    return {"seconds_per_step": summary.seconds_per_step, "wall": time.perf_counter() - start}


def run_raw(data: str, out: str, args) -> dict:
    import torch
    from datasets import load_dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    from harness.engines.models import resolve_model
    from trainers.chat_template import load_chat_template

    start = time.perf_counter()
    path = resolve_model("default").path
    tokenizer = AutoTokenizer.from_pretrained(path)
    tokenizer.chat_template = load_chat_template("chatml")
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    s = settings(args)
    config = SFTConfig(
        output_dir=out + "-ckpt",
        learning_rate=s["learning_rate"],
        lr_scheduler_type="linear",
        per_device_train_batch_size=s["batch_size"],
        max_length=s["max_length"],
        max_steps=s["max_steps"],
        assistant_only_loss=True,
        seed=0,
        logging_steps=1,
        save_strategy="no",
        report_to="none",
        disable_tqdm=True,
        bf16=False,
        gradient_checkpointing=False,
        use_cpu=True,
        dataloader_num_workers=0,
        ddp_find_unused_parameters=False,
    )
    dataset = load_dataset("json", data_files=data, split="train")
    trainer = SFTTrainer(model=model, args=config, train_dataset=dataset, processing_class=tokenizer)
    result = trainer.train()
    trainer.save_model(out)
    steps = trainer.state.global_step
    return {"seconds_per_step": result.metrics["train_runtime"] / steps, "wall": time.perf_counter() - start}


def one(side: str, args) -> dict:
    """One side, in a fresh process; returns its timings."""
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data.jsonl"
        data.write_text("".join(json.dumps(r) + "\n" for r in conversations(args.rows)))
        command = [sys.executable, __file__, "--side", side, "--data", str(data), "--out", str(Path(tmp) / "model")]
        if args.processes > 1:
            command[:1] = [sys.executable, "-m", "accelerate.commands.launch", *launch_flags(args.processes)]
        command += ["--rows", str(args.rows), "--batch-size", str(args.batch_size)]
        command += ["--max-length", str(args.max_length), "--steps", str(args.steps)]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise SystemExit(f"{side} failed:\n{done.stderr[-3000:]}")
        return json.loads(done.stdout.strip().splitlines()[-1])


def launch_flags(processes: int) -> list[str]:
    from harness.scale.launch import launch_command

    return launch_command([], processes, None)[:-2]  # accelerate's own flags, up to `-m harness.cli`


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--processes", type=int, default=1, help="both sides under accelerate launch, N processes")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--side", choices=["harness", "raw"], help=argparse.SUPPRESS)  # internal: one run
    parser.add_argument("--data", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.side:
        run = run_harness if args.side == "harness" else run_raw
        timings = run(args.data, args.out, args)
        if os.environ.get("RANK", "0") == "0":  # under a launch: the main process's timings
            print(json.dumps(timings))
        return

    runs: dict[str, list[dict]] = {"harness": [], "raw": []}
    for repeat in range(args.repeats):
        order = ("harness", "raw") if repeat % 2 == 0 else ("raw", "harness")
        for side in order:
            runs[side].append(one(side, args))
            print(f"repeat {repeat + 1} {side}: {runs[side][-1]}", file=sys.stderr)
    medians = {
        side: {k: statistics.median(r[k] for r in results) for k in ("seconds_per_step", "wall")}
        for side, results in runs.items()
    }
    result = {
        "settings": vars(args) | {"json": None},
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "load_average": os.getloadavg(),
        "machine": platform.processor() or platform.machine(),
        "runs": runs,
        "median": medians,
        "ratio_seconds_per_step": medians["harness"]["seconds_per_step"] / medians["raw"]["seconds_per_step"],
        "ratio_wall": medians["harness"]["wall"] / medians["raw"]["wall"],
    }
    print(json.dumps(result, indent=2, default=str))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2, default=str))


if __name__ == "__main__":
    main()
