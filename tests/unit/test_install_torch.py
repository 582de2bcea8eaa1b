"""scripts/install_torch.sh (run by setup.sh): the CPU build of torch where there is no GPU, even when pip sees only
plain PyPI (whose Linux torch 2.13.0 is the CUDA build), and PyPI's CUDA build where there is one. pip and
nvidia-smi are stand-ins on the PATH that record what they were asked."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).parents[2] / "scripts" / "install_torch.sh"
CPU_INDEX = "https://download.pytorch.org/whl/cpu"


def _fake(folder: Path, name: str, body: str) -> None:
    path = folder / name
    path.write_text(f"#!/usr/bin/env bash\n{body}\n")
    path.chmod(0o755)


def _install(tmp_path: Path, gpu: bool, pip_sees_cpu_build: bool) -> list[str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "calls"
    _fake(bin_dir, "nvidia-smi", "exit 0" if gpu else "exit 9")  # a driver-less machine may still have the tool
    refuse = "" if pip_sees_cpu_build else f'[[ "$*" == *+cpu* && "$*" != *{CPU_INDEX}* ]] && exit 1'
    _fake(bin_dir, "fake-pip", f'echo "$*" >> {calls}\n{refuse}\nexit 0')
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    subprocess.run(["bash", str(SCRIPT), "fake-pip", "install"], env=env, check=True, capture_output=True)
    return calls.read_text().splitlines()


@pytest.mark.parametrize(
    ("gpu", "pip_sees_cpu_build", "expected"),
    [
        (False, True, ["install torch==2.13.0+cpu"]),  # a local wheel or a configured index (as in CI here)
        (False, False, ["install torch==2.13.0+cpu", f"install torch==2.13.0+cpu --extra-index-url {CPU_INDEX}"]),
        (True, False, ["install torch==2.13.0"]),  # PyPI's CUDA build
    ],
)
def test_the_torch_build_fits_the_machine(tmp_path, gpu, pip_sees_cpu_build, expected):
    assert _install(tmp_path, gpu, pip_sees_cpu_build) == expected
