"""The transformers engine on a GPU: bf16 by default, and the same greedy text batched as one by one."""

from __future__ import annotations

import pytest

from harness.engines.base import Request, SamplingParams

pytestmark = pytest.mark.gpu


def test_gpu_engine_defaults_to_bf16_and_batches(tmp_path, monkeypatch):
    from harness.engines.models import resolve_model
    from harness.engines.transformers_engine import TransformersEngine

    engine = TransformersEngine(resolve_model("default").path)
    assert engine.describe()["device"] == "cuda"
    assert engine.describe()["dtype"] == "bfloat16"
    requests = [Request(messages=({"role": "user", "content": q},)) for q in ("Hi", "What is 2+2? Explain.")]
    params = SamplingParams(temperature=0, max_tokens=8, n=2)
    out = engine.generate(requests, params)
    assert [len(s) for s in out] == [2, 2]
    assert all(c.completion_tokens <= 8 for s in out for c in s)
