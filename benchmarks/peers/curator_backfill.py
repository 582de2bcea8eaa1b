"""Bespoke Curator's side of benchmarks/peers.py: an `LLM` subclass on the openai backend (its docs' way to
reach an OpenAI-compatible server). Job settings come from the JSON file the benchmark writes."""

import json
import sys
from pathlib import Path

from bespokelabs import curator

job = json.loads(Path(sys.argv[1]).read_text())


class Backfill(curator.LLM):
    def prompt(self, row):
        return [
            {"role": "system", "content": job["system"]},
            {"role": "user", "content": job["user_template"].format(**row)},
            {"role": "assistant", "content": job["primer"]},
        ]

    def parse(self, row, response):
        return {**row, "completion": response}


llm = Backfill(
    model_name=job["model"],
    backend="openai",
    generation_params={
        "max_tokens": job["max_tokens"],
        "temperature": job["temperature"],
        "top_p": job["top_p"],
        "min_p": job["min_p"],
        "stop": job["stop"],
        "seed": job["seed"],
        "continue_final_message": True,
        "add_generation_prompt": False,
    },
    backend_params={
        "base_url": job["base_url"],
        "api_key": "EMPTY",
        "max_concurrent_requests": job["concurrency"],
        "max_requests_per_minute": 1_000_000,
        "max_tokens_per_minute": 1_000_000_000,
        "invalid_finish_reasons": ["content_filter"],  # keep rows cut by max_tokens, as the other tools do
    },
)
rows = [json.loads(line) for line in Path(job["rows"]).read_text().splitlines()]
result = llm(rows)
with open(job["output"] + "/rows.jsonl", "w") as out:
    for row in result.dataset:
        out.write(json.dumps(row) + "\n")
