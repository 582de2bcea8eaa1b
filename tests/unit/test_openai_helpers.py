"""Pure helpers of the openai engine: per-sample token counts, the public base URL, logprobs shapes, usage."""

from __future__ import annotations

from types import SimpleNamespace as NS

import pytest

from harness.engines.openai_engine import Usage
from harness.engines.openai_payloads import choice_logprobs, choice_text, public_url, split_tokens


def choice(finish: str = "stop", text: str = "x") -> NS:
    return NS(finish_reason=finish, text=text, message=None, logprobs=None)


def test_one_sample_gets_the_whole_count():
    assert split_tokens(17, [choice()], ["abc"], [None], 64) == [17]


def test_logprobs_give_exact_counts():
    lps = [[{}] * 3, [{}] * 5]
    assert split_tokens(8, [choice(), choice()], ["a", "b"], lps, 64) == [3, 5]


def test_a_sample_cut_by_the_budget_used_exactly_max_tokens():
    choices = [choice("length"), choice("stop"), choice("stop")]
    counts = split_tokens(64 + 30, choices, ["long text", "aaaaaaaaa", "a"], [None] * 3, 64)
    assert counts[0] == 64 and sum(counts) == 94 and counts[1] > counts[2] > 0


@pytest.mark.parametrize("total", [0, 1, 7, 100])
def test_the_split_adds_up_to_the_servers_total(total):
    texts = ["a" * 10, "b" * 3, "c" * 7]
    counts = split_tokens(total, [choice()] * 3, texts, [None] * 3, 1000)
    assert sum(counts) == total and all(c >= 0 for c in counts)


def test_all_samples_cut_by_the_budget():
    assert split_tokens(20, [choice("length")] * 2, ["a", "b"], [None, None], 10) == [10, 10]


@pytest.mark.parametrize(
    ("url", "public"),
    [
        ("http://127.0.0.1:8000/v1", "http://127.0.0.1:8000/v1"),
        ("https://user:sk-secret@api.example.com/v1/", "https://api.example.com/v1"),
        ("https://api.example.com/v1?api-key=sk-secret#x", "https://api.example.com/v1"),
    ],
)
def test_public_url_drops_anything_that_may_carry_credentials(url, public):
    assert public_url(url) == public


def test_chat_logprobs_in_the_engine_contract_shape():
    top = [NS(token="Hi", logprob=-0.1), NS(token="Hello", logprob=-2.0)]
    content = [NS(token="Hi", logprob=-0.1, top_logprobs=top), NS(token="!", logprob=-0.5, top_logprobs=[])]
    got = choice_logprobs(NS(logprobs=NS(content=content)))
    assert got == [
        {"token": "Hi", "logprob": -0.1, "top": {"Hi": -0.1, "Hello": -2.0}},
        {"token": "!", "logprob": -0.5},
    ]


def test_completion_logprobs_in_the_engine_contract_shape():
    lp = NS(content=None, tokens=["a", "b"], token_logprobs=[-0.2, -0.3], top_logprobs=[{"a": -0.2}, None])
    assert choice_logprobs(NS(logprobs=lp)) == [
        {"token": "a", "logprob": -0.2, "top": {"a": -0.2}},
        {"token": "b", "logprob": -0.3},
    ]
    assert choice_logprobs(NS(logprobs=None)) is None


def test_text_of_chat_and_completion_choices():
    assert choice_text(NS(message=NS(content="chat"))) == "chat"
    assert choice_text(NS(message=NS(content=None))) == ""
    assert choice_text(NS(message=None, text="raw")) == "raw"


def test_usage_counts_requests_and_tokens():
    usage = Usage()
    usage.add(1000, 500)
    usage.add(2000, 0)
    assert usage.to_dict() == {
        "requests": 2, "retries": 0, "failed": 0, "prompt_tokens": 3000, "completion_tokens": 500,
    }  # fmt: skip


def test_a_servers_context_refusal_is_read_by_its_code_else_its_words():
    from harness.engines.context import is_overflow, server_overflow

    vllm = (
        "This model's maximum context length is 2048 tokens. However, your prompt contains at least 2049 input tokens"
    )
    hosted = "Your input exceeds the context window of this model."  # no known words: the code says it
    for status, code, message in ((400, "400", vllm), (400, "context_length_exceeded", hosted),
                                  (400, None, "The prompt is too long: 250000 tokens > 200000 maximum")):  # fmt: skip
        reason = server_overflow(status, code, message)
        assert is_overflow(reason) and message in reason and "--max-model-len" in reason, reason
    assert server_overflow(400, "400", "temperature must be non-negative") is None  # another bad request
    assert server_overflow(500, None, vllm) is None  # the server's fault: retried as before
