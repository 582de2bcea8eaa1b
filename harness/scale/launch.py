"""Training across N processes: a harness module run again under `accelerate launch`, N times
(`harness train --num-processes N`, a loop's rounds and a pipeline's train stage: harness/stages/train_launch.py).

Without an accelerate config file this is accelerate's data-parallel launcher (`--multi_gpu`, torchrun
underneath): DDP over the GPUs, or over CPU processes with the gloo backend where there is no GPU. With one
(`--accelerate-config FILE`, e.g. FSDP or DeepSpeed ZeRO written by `accelerate config`) the file decides.
Each process is given a free rendezvous port, so two launches on one machine do not collide.

The launcher runs in this process, so a failed child becomes our exit status: the child has already said why in
one line (a bad input stops every process with the same error), and the launcher's traceback would only repeat it.
"""

from __future__ import annotations

import logging
import socket
import subprocess
from collections.abc import Sequence

LAUNCH_FLAGS = ("--num-processes", "--accelerate-config")  # the parent's own flags, not passed to the children


def launch_command(
    argv: Sequence[str], num_processes: int, config_file: str | None, module: str = "harness.cli"
) -> list[str]:
    """`accelerate launch ... -m MODULE ARGV`'s arguments, with this launch's own flags taken out of ARGV."""
    command = ["--num_processes", str(num_processes)]
    if config_file:
        command += ["--config_file", config_file]
    else:  # everything accelerate would otherwise warn that it defaulted
        command += ["--multi_gpu", "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no"]
    command += ["--main_process_port", str(_free_port()), "-m", module, *without_launch_flags(argv)]
    return command


def without_launch_flags(argv: Sequence[str]) -> list[str]:
    """ARGV less `--num-processes N`, `--num-processes=N` and the same forms of `--accelerate-config`."""
    kept: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg in LAUNCH_FLAGS:
            skip = True
        elif not arg.startswith(tuple(f"{flag}=" for flag in LAUNCH_FLAGS)):
            kept.append(arg)
    return kept


def run_launch(argv: Sequence[str], num_processes: int, config_file: str | None, module: str = "harness.cli") -> int:
    """Runs the launch of `python -m MODULE ARGV` in the foreground; its exit status (0 when every process
    finished, else the first failed process's)."""
    from accelerate.commands.launch import launch_command as accelerate_launch
    from accelerate.commands.launch import launch_command_parser
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError

    args = launch_command_parser().parse_args(launch_command(argv, num_processes, config_file, module))
    logging.getLogger("torch.distributed.elastic").setLevel(logging.CRITICAL)  # it would log each failure again
    try:
        accelerate_launch(args)
    except ChildFailedError as err:
        return _exit_status(err.get_first_failure()[1].exitcode)
    except subprocess.CalledProcessError as err:  # accelerate's launchers that run a command (DeepSpeed, MPI)
        return _exit_status(err.returncode)
    return 0


def _exit_status(code: int) -> int:
    return code if code > 0 else 1  # a process killed by a signal has a negative code


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
