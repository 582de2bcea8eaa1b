"""Engines, one file each, behind one contract (base.py), with what every generating stage runs on: the
generation cache, the engine session and the stream loop. `make_engine` imports only the engine asked for
(engines import heavy libraries)."""

from __future__ import annotations

import importlib

from harness.engines.base import Engine

ENGINES = {
    "transformers": "harness.engines.transformers_engine:TransformersEngine",
    "vllm": "harness.engines.vllm_engine:VLLMEngine",
    "openai": "harness.engines.openai_engine:OpenAIEngine",
}


def make_engine(engine: str, model_path: str, **options) -> Engine:
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}; engines are: {', '.join(sorted(ENGINES))}")
    module, cls = ENGINES[engine].split(":")
    return getattr(importlib.import_module(module), cls)(model_path, **options)
