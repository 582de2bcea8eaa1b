#!/usr/bin/env bash
# The harness's side of benchmarks/peers.py: the backfill card's prompt and sampling are the task's defaults.
exec harness synth --task backfill --input "$ROWS" --engine openai --base-url "$BASE_URL" --model "$MODEL" \
  --concurrency "$CONCURRENCY" --max-tokens "$MAX_TOKENS" --seed "$SEED" --output "$OUT"
