"""Sampling from a model's generation_config.json (the reasoning-token card generates with the model's own)."""

from __future__ import annotations

import json

import pytest

from harness.config import SamplingOverrides
from harness.engines.base import SamplingParams
from harness.engines.generation_config import sampling_from, with_generation_config
from harness.engines.openai_payloads import server_sampling
from harness.evalsets.lm_eval_adapter import generation_kwargs

QWEN_INSTRUCT = {"do_sample": True, "temperature": 0.7, "top_p": 0.8, "top_k": 20, "repetition_penalty": 1.05}
DEFAULTS = SamplingParams(temperature=0.5, top_p=0.9, max_tokens=3000, stop=("<|im_end|>",))


def folder(tmp_path, config: dict):
    (tmp_path / "generation_config.json").write_text(json.dumps(config))
    return str(tmp_path)


def test_a_sampling_config_is_taken_whole(tmp_path):
    params, taken = with_generation_config(DEFAULTS, folder(tmp_path, {**QWEN_INSTRUCT, "max_new_tokens": 2048}))
    assert (params.temperature, params.top_p, params.top_k, params.repetition_penalty) == (0.7, 0.8, 20, 1.05)
    assert params.max_tokens == 3000 and params.stop == ("<|im_end|>",)  # the card's budget, the task's stop
    assert taken["top_k"] == 20


def test_without_do_sample_generate_is_greedy_and_transformers_defaults_fill_gaps(tmp_path):
    assert sampling_from({"bos_token_id": 1}) == {"repetition_penalty": 1.0, "temperature": 0.0}
    assert sampling_from({"do_sample": True})["top_k"] == 50  # transformers' default
    params, _ = with_generation_config(DEFAULTS, folder(tmp_path, {"do_sample": False, "repetition_penalty": 1.1}))
    assert (params.temperature, params.repetition_penalty) == (0.0, 1.1)


def test_no_config_keeps_the_defaults_and_a_broken_one_is_named(tmp_path):
    assert with_generation_config(DEFAULTS, str(tmp_path)) == (DEFAULTS, None)
    assert with_generation_config(DEFAULTS, "some/hub-id") == (DEFAULTS, None)
    (tmp_path / "generation_config.json").write_text("{not json")
    with pytest.raises(ValueError, match="generation_config.json: not a readable generation config"):
        with_generation_config(DEFAULTS, str(tmp_path))


def test_user_flags_go_over_the_models_config(tmp_path):
    base, _ = with_generation_config(DEFAULTS, folder(tmp_path, QWEN_INSTRUCT))
    params = SamplingOverrides(top_k=5, from_model=True).apply(base)
    assert (params.top_k, params.temperature) == (5, 0.7)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [("top_k", -1, "top_k must be >= 0"), ("repetition_penalty", 0.0, "repetition_penalty must be > 0")],
)
def test_bad_values_are_refused(field, value, message):
    with pytest.raises(ValueError, match=message):
        SamplingParams(**{field: value})


def test_servers_and_lm_eval_get_the_settings_only_when_set():
    assert server_sampling(SamplingParams()) == {}
    assert server_sampling(SamplingParams(top_k=20, repetition_penalty=1.05, min_p=0.05)) == {
        "min_p": 0.05,
        "top_k": 20,
        "repetition_penalty": 1.05,
    }
    kwargs = generation_kwargs(SamplingParams(temperature=0.7, top_k=20, repetition_penalty=1.05))
    assert (kwargs["top_k"], kwargs["repetition_penalty"]) == (20, 1.05)
    assert "top_k" not in generation_kwargs(SamplingParams(temperature=0, top_k=20))  # greedy: top_k is moot
