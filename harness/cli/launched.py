"""What each process of a launched training runs: `python -m harness.cli.launched JOB.json`, started N times by
`accelerate launch` from harness/stages/train_launch.py. It trains the job's resolved config as one process of
the group; the process that launched them prints the summary, so this prints nothing but errors (one line)."""

from __future__ import annotations

import json
import sys

from harness.cli.errors import console, reported_errors
from harness.config import TrainConfig
from harness.stages.registry import run_stage


def main(job_file: str) -> None:
    with reported_errors():
        with open(job_file, encoding="utf-8") as handle:
            job = json.load(handle)
        run_stage("train", TrainConfig(**job["config"]), console, recipe=job["recipe"])


if __name__ == "__main__":
    main(sys.argv[1])
