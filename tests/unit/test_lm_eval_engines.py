"""How our engines map onto lm-eval's models: model types, model_args, the API key's path."""

from __future__ import annotations

import os

import pytest

from harness.config import EvalConfig, load_config
from harness.evalsets import lm_eval_adapter as lm

SERVER = {"model": "/m", "base_url": "http://127.0.0.1:8000/v1/", "concurrency": 4, "max_retries": 2, "timeout": 9.0}


def test_each_engine_scores_and_generates_with_its_lm_eval_model():
    assert lm.lm_eval_model("transformers", "cloze") == "hf"
    assert lm.lm_eval_model("openai", "loglikelihood") == "local-completions"
    assert lm.lm_eval_model("openai", "generative") == "local-chat-completions"
    with pytest.raises(ValueError, match="unknown engine 'tgi'; engines are: openai, transformers, vllm"):
        lm.lm_eval_model("tgi", "cloze")


def test_openai_model_args_point_at_the_endpoint_of_the_mode():
    scoring = lm.model_args("openai", SERVER, "loglikelihood")
    assert scoring["base_url"] == "http://127.0.0.1:8000/v1/completions"
    assert scoring["num_concurrent"] == 4 and scoring["max_retries"] == 2 and scoring["timeout"] == 9.0
    assert scoring["tokenizer"] == "/m" and scoring["tokenizer_backend"] == "huggingface"
    assert lm.model_args("openai", SERVER, "generative")["base_url"] == "http://127.0.0.1:8000/v1/chat/completions"
    assert not any("key" in k for k in scoring)  # the key travels in the environment only


def test_vllm_model_args_are_the_engines_llm_keywords():
    args = lm.model_args("vllm", {"model": "/m", "dtype": "float32", "enforce_eager": True})
    assert args == {"pretrained": "/m", "dtype": "float32", "enforce_eager": True}
    assert lm.model_args("transformers", {"model": "/m"}) == {"pretrained": "/m"}


def test_api_key_from_a_named_variable_is_lent_to_lm_eval_and_taken_back(monkeypatch):
    monkeypatch.setenv("MY_KEY", "secret")
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with lm.api_key_from("MY_KEY"):
        assert os.environ["OPENAI_API_KEY"] == "secret"
    assert "OPENAI_API_KEY" not in os.environ
    monkeypatch.setenv("OPENAI_API_KEY", "mine")
    with lm.api_key_from("MY_KEY"):
        assert os.environ["OPENAI_API_KEY"] == "secret"
    assert os.environ["OPENAI_API_KEY"] == "mine"
    with lm.api_key_from(None):
        assert os.environ["OPENAI_API_KEY"] == "mine"


def test_eval_engine_flags_land_in_their_sections():
    cfg = load_config(
        None,
        {
            "output": "o",
            "engine": "openai",
            "base_url": "http://h/v1",
            "concurrency": 3,
            "max_model_len": 512,
            "seed": 4,
        },
        EvalConfig,
    )
    assert cfg.openai.base_url == "http://h/v1" and cfg.openai.concurrency == 3
    assert cfg.vllm.max_model_len == 512 and cfg.seed == 4 and cfg.sampling.seed is None
