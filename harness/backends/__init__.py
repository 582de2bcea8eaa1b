"""Engines, one file each; `make_backend` imports only the one asked for (engines import heavy libraries)."""

from __future__ import annotations

import importlib

from harness.backends.base import Backend

ENGINES = {
    "transformers": "harness.backends.transformers_engine:TransformersBackend",
    "vllm": "harness.backends.vllm_engine:VLLMBackend",
    "openai": "harness.backends.openai_engine:OpenAIBackend",
}


def make_backend(engine: str, model_path: str, **options) -> Backend:
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}; engines are: {', '.join(sorted(ENGINES))}")
    module, cls = ENGINES[engine].split(":")
    return getattr(importlib.import_module(module), cls)(model_path, **options)
