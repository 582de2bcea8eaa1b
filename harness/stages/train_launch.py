"""Training in N processes from inside a stage: `harness train --num-processes N`, a loop's rounds and a pipeline's
train stage all come here, so each launches the same way.

The resolved TrainConfig is written beside the output (`.NAME.launch.json`) and `accelerate launch` runs
`harness.cli.launched` on it N times; each process runs `run_train` on that config as a process of the group
(harness/stages/train.py says who writes what). The file goes once the launch ends. A process that fails has
said why in one line; the launch's exit status says that it failed.
"""

from __future__ import annotations

from pathlib import Path

from harness.artifacts.writer import ArtifactError, write_json_atomic
from harness.config import TrainConfig
from harness.scale.launch import run_launch

LAUNCHED = "harness.cli.launched"  # the module each process runs (a process boundary, not an import)


def train_in_processes(cfg: TrainConfig, recipe: str | None, processes: int, accelerate_config: str | None) -> None:
    output = Path(cfg.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    job = output.with_name(f".{output.name}.launch.json")
    write_json_atomic(job, {"config": cfg.model_dump(mode="json"), "recipe": recipe})
    try:
        code = run_launch([str(job)], processes, accelerate_config, module=LAUNCHED)
    finally:
        job.unlink(missing_ok=True)
    if code:
        raise ArtifactError(
            f"training {output} in {processes} processes failed (exit status {code}); the processes said why above"
        )
