"""NVIDIA Data Designer's side of benchmarks/peers.py: a seed dataset and one LLM text column on a custom model
provider (its docs' way to reach a self-hosted endpoint). Job settings come from the JSON file the benchmark writes."""

import json
import sys
from pathlib import Path

import data_designer.config as dd
from data_designer.interface import DataDesigner

job = json.loads(Path(sys.argv[1]).read_text())

provider = dd.ModelProvider(name="local-vllm", endpoint=job["base_url"], provider_type="openai", api_key="EMPTY")
model = dd.ModelConfig(
    alias="backfill",
    model=job["model"],
    provider="local-vllm",
    inference_parameters=dd.ChatCompletionInferenceParams(
        temperature=job["temperature"],
        top_p=job["top_p"],
        max_tokens=job["max_tokens"],
        max_parallel_requests=job["concurrency"],
        extra_body={"min_p": job["min_p"], "stop": job["stop"], "seed": job["seed"]},
    ),
)
builder = dd.DataDesignerConfigBuilder(model_configs=[model])
builder.with_seed_dataset(dd.LocalFileSeedSource(path=job["rows"]))
builder.add_column(
    dd.LLMTextColumnConfig(
        name="completion",
        model_alias="backfill",
        system_prompt=job["system"],
        prompt=job["user_template"]
        .replace("{instruction}", "{{ instruction }}")
        .replace("{solution}", "{{ solution }}"),
    )
)
designer = DataDesigner(artifact_path=job["output"] + "/artifacts", model_providers=[provider])
results = designer.create(
    builder, num_records=job["num_rows"], dataset_name="backfill", resume=dd.ResumeMode.IF_POSSIBLE
)
results.load_dataset().to_json(job["output"] + "/rows.jsonl", orient="records", lines=True)
