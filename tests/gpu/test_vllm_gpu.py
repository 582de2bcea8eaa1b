"""The vllm engine on GPUs: vLLM's own defaults (bf16/auto dtype, compiled), n samples, and pipeline parallelism
where there are two GPUs. Skipped without a GPU or without vLLM."""

from __future__ import annotations

import pytest

from harness.engines.base import Request, SamplingParams

pytestmark = pytest.mark.gpu


@pytest.fixture(scope="module")
def model_path():
    pytest.importorskip("vllm", reason="vLLM is not installed (pip install -e '.[vllm]')")
    from harness.engines.models import resolve_model

    return resolve_model("default").path


def test_gpu_engine_uses_vllm_defaults_and_samples(model_path):
    from harness.engines.vllm_engine import VLLMEngine

    engine = VLLMEngine(model_path, gpu_memory_utilization=0.3)
    facts = engine.describe()
    assert facts["device"] == "cuda" and facts["enforce_eager"] is False
    out = engine.generate([Request(messages=({"role": "user", "content": "Hi"},))], SamplingParams(max_tokens=8, n=2))
    assert [c.sample_idx for c in out[0]] == [0, 1] and all(c.completion_tokens <= 8 for c in out[0])
    engine.close()


def test_pipeline_parallel_over_two_gpus(model_path):
    import torch

    if torch.cuda.device_count() < 2:
        pytest.skip("needs two GPUs")
    from harness.engines.vllm_engine import VLLMEngine

    # SmolLM2-135M has 9 attention heads and 3 KV heads, which 2 GPUs cannot split: pipeline parallel instead.
    engine = VLLMEngine(model_path, tensor_parallel_size=1, pipeline_parallel_size=2, gpu_memory_utilization=0.3)
    [[c]] = engine.generate([Request(prompt="The capital of France is")], SamplingParams(temperature=0, max_tokens=4))
    assert c.text.strip() and engine.describe()["pipeline_parallel_size"] == 2
    engine.close()
