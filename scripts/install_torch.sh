#!/usr/bin/env bash
# Install torch 2.13.0, the build this machine needs. Usage: bash scripts/install_torch.sh PIP-INSTALL-COMMAND...
# (scripts/setup.sh passes its `python -m pip install -q ...`).
# On Linux, plain PyPI's torch 2.13.0 is the CUDA build (several GB): without a GPU ask for the CPU build by its
# exact version, from what pip already sees (a local wheel, a configured index), else from PyTorch's CPU index.
# With a GPU, PyPI's CUDA build is the one wanted.
set -euo pipefail
pip=("$@")
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
  echo "GPU found: installing the CUDA build of torch 2.13.0" >&2
  "${pip[@]}" torch==2.13.0
elif ! "${pip[@]}" torch==2.13.0+cpu 2>/dev/null; then
  echo "no GPU: installing the CPU build of torch 2.13.0 from https://download.pytorch.org/whl/cpu" >&2
  "${pip[@]}" torch==2.13.0+cpu --extra-index-url https://download.pytorch.org/whl/cpu
fi
