"""distilabel's side of benchmarks/peers.py: a Pipeline of LoadDataFromDicts >> TextGeneration on OpenAILLM
pointed at the server (its docs' way). Job settings come from the JSON file the benchmark writes."""

import json
import sys
from pathlib import Path

from distilabel.models import OpenAILLM
from distilabel.pipeline import Pipeline
from distilabel.steps import LoadDataFromDicts
from distilabel.steps.tasks import TextGeneration

job = json.loads(Path(sys.argv[1]).read_text())
rows = [json.loads(line) for line in Path(job["rows"]).read_text().splitlines()]

with Pipeline(name="backfill", cache_dir=job["output"] + "/cache") as pipeline:
    load = LoadDataFromDicts(data=rows)
    generate = TextGeneration(
        llm=OpenAILLM(model=job["model"], base_url=job["base_url"], api_key="EMPTY"),
        system_prompt=job["system"],
        template=job["user_template"]
        .replace("{instruction}", "{{ instruction }}")
        .replace("{solution}", "{{ solution }}"),
        columns=["instruction", "solution"],
        input_batch_size=job["concurrency"],  # the requests of one batch are sent together
    )
    load >> generate

if __name__ == "__main__":
    distiset = pipeline.run(
        parameters={
            generate.name: {
                "llm": {
                    "generation_kwargs": {
                        "max_new_tokens": job["max_tokens"],
                        "temperature": job["temperature"],
                        "top_p": job["top_p"],
                        "stop": job["stop"],
                        "extra_body": {"min_p": job["min_p"], "seed": job["seed"]},
                    }
                }
            }
        },
        use_cache=True,
    )
    with open(job["output"] + "/rows.jsonl", "w") as out:
        for row in distiset["default"]["train"]:
            out.write(json.dumps({k: row[k] for k in ("instruction", "solution", "generation")}) + "\n")
