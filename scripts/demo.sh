#!/usr/bin/env bash
# Set everything up, then backfill reasoning traces for 8 rows of the bundled sample on the default model.
# Extra flags go to `harness synth` (e.g. --limit 32 for more rows); a rerun resumes.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/harness synth --task backfill --input sample --limit 8 --max-tokens 256 --batch-size 8 \
  --output runs/demo "$@"
echo "Next: . .venv/bin/activate   (then \`harness --help\`, and the README's examples run as written)" >&2
