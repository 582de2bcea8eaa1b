#!/usr/bin/env bash
# Set everything up, then run the lifecycle on the default model: `harness run demo` (synth, verify, select,
# decontaminate, train, eval, report; harness/pipeline/shipped/demo.yaml). Extra flags go to `harness run`
# (e.g. --set limit=8); a rerun skips what is done and resumes the rest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/harness run demo --output runs/demo "$@"
echo "Next: . .venv/bin/activate   (then \`harness --help\`, and the README's examples run as written)" >&2
