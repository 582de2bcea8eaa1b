#!/usr/bin/env bash
# Set everything up, then backfill reasoning traces for 32 rows of the bundled sample on the default model.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/harness synth --task backfill --input sample --limit 32 --max-tokens 256 --batch-size 16 \
  --output runs/demo "$@"
