#!/usr/bin/env bash
# Set up with the test extras, then run the test suite (no GPU and no network needed; GPU tests skip).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh test
exec .venv/bin/python -m pytest "$@"
