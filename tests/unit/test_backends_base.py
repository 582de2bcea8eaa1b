"""harness/engines/base.py: SamplingParams validation, the Request rule, Completion round trips."""

from __future__ import annotations

import dataclasses
import re

import pytest

from harness.engines import make_engine
from harness.engines.base import Completion, Engine, Request, SamplingParams


# -- SamplingParams --------------------------------------------------------------------------------------------
def test_defaults():
    p = SamplingParams()
    assert (p.temperature, p.top_p, p.min_p, p.max_tokens, p.n, p.stop, p.seed, p.logprobs) == (
        1.0,
        1.0,
        0.0,
        256,
        1,
        (),
        None,
        None,
    )


@pytest.mark.parametrize(
    "valid",
    [
        {"temperature": 0},
        {"temperature": 2.5},
        {"top_p": 1},
        {"top_p": 1e-9},
        {"min_p": 0},
        {"min_p": 0.999},
        {"max_tokens": 1},
        {"n": 1},
        {"logprobs": 0},
        {"seed": 0},
        {"seed": -1},
        {"stop": ("\n", " ")},
    ],
)
def test_boundary_values_are_accepted(valid):
    SamplingParams(**valid)


@pytest.mark.parametrize(
    ("invalid", "message"),
    [
        ({"temperature": -0.1}, "temperature must be >= 0, got -0.1"),
        ({"top_p": 0}, "top_p must be in (0, 1], got 0"),
        ({"top_p": 1.01}, "top_p must be in (0, 1], got 1.01"),
        ({"top_p": -1}, "top_p must be in (0, 1], got -1"),
        ({"min_p": 1}, "min_p must be in [0, 1), got 1"),
        ({"min_p": -0.1}, "min_p must be in [0, 1), got -0.1"),
        ({"max_tokens": 0}, "max_tokens must be >= 1, got 0"),
        ({"n": 0}, "n must be >= 1, got 0"),
        ({"logprobs": -1}, "logprobs must be >= 0, got -1"),
        ({"stop": ("",)}, "stop strings must not be empty"),
        ({"stop": ("ok", "")}, "stop strings must not be empty"),
    ],
)
def test_invalid_values_are_named(invalid, message):
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        SamplingParams(**invalid)


@pytest.mark.parametrize("field", ["top_p", "min_p"])
def test_nan_is_refused(field):
    with pytest.raises(ValueError, match=f"^{field} must be in"):
        SamplingParams(**{field: float("nan")})


def test_nan_temperature_is_refused():
    with pytest.raises(ValueError, match="^temperature must be >= 0, got nan$"):
        SamplingParams(temperature=float("nan"))


def test_every_problem_is_reported_at_once():
    with pytest.raises(ValueError) as err:
        SamplingParams(temperature=-1, top_p=0, max_tokens=0, n=0)
    assert str(err.value) == (
        "temperature must be >= 0, got -1; top_p must be in (0, 1], got 0; max_tokens must be >= 1, got 0; "
        "n must be >= 1, got 0"
    )


def test_params_are_frozen_and_hashable():
    p = SamplingParams(stop=("a",))
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.temperature = 0.5  # type: ignore[misc]
    assert hash(p) == hash(SamplingParams(stop=("a",)))


def test_params_to_dict():
    assert SamplingParams(temperature=0.7, stop=("a", "b"), seed=3).to_dict() == {
        "temperature": 0.7,
        "top_p": 1.0,
        "min_p": 0.0,
        "max_tokens": 256,
        "n": 1,
        "stop": ["a", "b"],
        "seed": 3,
        "logprobs": None,
    }
    # Set, they are part of it (and so of cache keys); off, they are left out (earlier artifacts keep their identity).
    assert SamplingParams(top_k=20, repetition_penalty=1.05).to_dict()["top_k"] == 20


def test_from_dict_round_trip_with_the_generation_config_settings():
    params = SamplingParams(top_k=20, repetition_penalty=1.05, stop=("x",))
    assert SamplingParams(**{**params.to_dict(), "stop": tuple(params.to_dict()["stop"])}) == params


# -- Request ---------------------------------------------------------------------------------------------------
EXACTLY_ONE = "a Request holds either chat messages or a raw prompt, exactly one of them"


def test_request_needs_messages_or_a_prompt():
    with pytest.raises(ValueError, match=f"^{re.escape(EXACTLY_ONE)}$"):
        Request()


def test_request_refuses_both():
    with pytest.raises(ValueError, match=f"^{re.escape(EXACTLY_ONE)}$"):
        Request(messages=({"role": "user", "content": "hi"},), prompt="hi")


def test_empty_messages_and_empty_prompt_still_count_as_given():
    Request(messages=())
    Request(prompt="")


def test_assistant_prefix_only_with_messages():
    with pytest.raises(
        ValueError,
        match=f"^{re.escape('assistant_prefix only applies to chat messages; append it to the raw prompt')}$",
    ):
        Request(prompt="hi", assistant_prefix="<t>")
    assert Request(messages=({"role": "user", "content": "hi"},), assistant_prefix="<t>").assistant_prefix == "<t>"


def test_request_to_dict():
    chat = Request(messages=({"role": "user", "content": "hé"},), assistant_prefix="<t>\n")
    assert chat.to_dict() == {
        "messages": [{"role": "user", "content": "hé"}],
        "prompt": None,
        "assistant_prefix": "<t>\n",
    }
    assert Request(prompt="p").to_dict() == {"messages": None, "prompt": "p", "assistant_prefix": ""}


def test_request_to_dict_copies_the_messages():
    message = {"role": "user", "content": "hi"}
    d = Request(messages=(message,)).to_dict()
    d["messages"][0]["content"] = "changed"
    assert message["content"] == "hi"


# -- Completion and Engine ------------------------------------------------------------------------------------
def test_completion_round_trip():
    c = Completion("tëxt", "length", 10, 20, sample_idx=2, logprobs=[{"token": "a", "logprob": -0.1}])
    assert Completion.from_dict(c.to_dict()) == c
    assert c.to_dict() == {
        "text": "tëxt",
        "finish_reason": "length",
        "prompt_tokens": 10,
        "completion_tokens": 20,
        "sample_idx": 2,
        "logprobs": [{"token": "a", "logprob": -0.1}],
        "error": None,
    }


def test_completions_cached_before_the_error_field_still_load():
    old = {"text": "t", "finish_reason": "stop", "prompt_tokens": 1, "completion_tokens": 2, "sample_idx": 0}
    assert Completion.from_dict(old) == Completion("t", "stop", 1, 2)


def test_failed_request_gives_one_error_row_per_sample():
    rows = Completion.failed("HTTP 500 after 7 attempts", 3)
    assert [c.sample_idx for c in rows] == [0, 1, 2]
    assert all(c.is_error and c.error == "HTTP 500 after 7 attempts" and c.text == "" for c in rows)
    assert not Completion("x", "stop", 0, 1).is_error


def test_backend_is_abstract_and_describes_itself():
    with pytest.raises(TypeError):
        Engine()  # type: ignore[abstract]

    class Echo(Engine):
        name = "echo"

        def generate(self, requests, params):
            return [[Completion("x", "stop", 0, 1)] for _ in requests]

    echo = Echo()
    assert echo.describe() == {"engine": "echo"}
    assert echo.usage_totals() == {}  # local engines have no remote usage to report
    echo.close()


def test_unknown_engine():
    with pytest.raises(ValueError, match=r"^unknown engine 'nope'; engines are: openai, transformers, vllm$"):
        make_engine("nope", "model")
