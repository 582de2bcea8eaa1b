"""The engine contract, checked on every engine with the real default model: batching and order, finish
reasons and token counts, stop strings, n and seeds, assistant prefixes against raw prompts, logprobs.

`any_engine` runs each test on transformers, vllm (offline) and openai (through a real vLLM server); the
last two skip, saying why, where vLLM is not installed.
"""

from __future__ import annotations

import pytest

from harness.engines.base import Request, SamplingParams
from harness.engines.context import is_overflow

pytestmark = pytest.mark.slow

GREEDY = SamplingParams(temperature=0, max_tokens=12)


def chat(text: str) -> Request:
    return Request(messages=({"role": "user", "content": text},))


def test_batch_keeps_order_and_matches_one_by_one(any_engine):
    # Prompts of very different lengths: left padding must not change what each one generates.
    requests = [chat("Hi"), chat("Name three colours of the rainbow, please, in order."), chat("What is 2+2?")]
    batched = any_engine.generate(requests, GREEDY)
    alone = [any_engine.generate([r], GREEDY)[0] for r in requests]
    assert [b[0].text for b in batched] == [a[0].text for a in alone]
    assert [b[0].prompt_tokens for b in batched] == [a[0].prompt_tokens for a in alone]
    assert len({b[0].prompt_tokens for b in batched}) == 3


def test_length_finish_and_token_counts(any_engine):
    [[completion]] = any_engine.generate(
        [chat("Tell me a long story about a dragon.")], SamplingParams(temperature=0, max_tokens=5)
    )
    assert completion.finish_reason == "length"
    assert completion.completion_tokens == 5
    assert completion.prompt_tokens > 10
    assert completion.text


@pytest.mark.parametrize("stop", [(), ("<|im_end|>",)])  # the end-of-turn token, also named as a stop
def test_end_of_turn_is_stop(any_engine, stop):
    [[completion]] = any_engine.generate(
        [chat("Reply with just the word yes.")], SamplingParams(temperature=0, max_tokens=64, stop=stop)
    )
    assert completion.finish_reason == "stop"
    assert "<|im_end|>" not in completion.text
    assert completion.completion_tokens < 64


def test_stop_string_truncates_text(any_engine):
    request = chat("Count from 1 to 10 separated by commas.")
    [[full]] = any_engine.generate([request], SamplingParams(temperature=0, max_tokens=40))
    assert "4" in full.text, full.text
    [[cut]] = any_engine.generate([request], SamplingParams(temperature=0, max_tokens=40, stop=("4",)))
    assert cut.finish_reason == "stop"
    assert cut.text == full.text[: full.text.index("4")]
    assert cut.completion_tokens < full.completion_tokens


def test_n_samples_and_seed_reproducible(any_engine):
    params = SamplingParams(temperature=1.0, top_p=0.95, max_tokens=16, n=3, seed=7)
    first = any_engine.generate([chat("Write a word."), chat("Write a number.")], params)
    again = any_engine.generate([chat("Write a word."), chat("Write a number.")], params)
    assert [len(samples) for samples in first] == [3, 3]
    assert [c.sample_idx for c in first[0]] == [0, 1, 2]
    assert [[c.text for c in s] for s in first] == [[c.text for c in s] for s in again]
    assert len({c.text for s in first for c in s}) > 1  # sampling, not greedy


def test_assistant_prefix_and_raw_prompt(any_engine, engine):
    prefixed = Request(messages=({"role": "user", "content": "What is 3+4?"},), assistant_prefix="The answer is")
    text = engine.render(prefixed)  # the transformers engine's rendering: every engine must see this text
    assert text.endswith("<|im_start|>assistant\nThe answer is")
    raw = Request(prompt=text)
    [[a]], [[b]] = any_engine.generate([prefixed], GREEDY), any_engine.generate([raw], GREEDY)
    assert a.text == b.text


def test_logprobs(any_engine):
    [[completion]] = any_engine.generate([chat("Say hello.")], SamplingParams(temperature=0, max_tokens=4, logprobs=3))
    assert len(completion.logprobs) == completion.completion_tokens
    for entry in completion.logprobs:
        assert entry["logprob"] <= 0
        assert len(entry["top"]) == 3
        # Greedy decoding picks the most likely token.
        assert entry["logprob"] == pytest.approx(max(entry["top"].values()), abs=1e-4)


def test_top_k_and_repetition_penalty_are_honoured(any_engine):
    """Generation configs' two settings (the reasoning-token card samples with the model's own): top_k=1 is greedy
    at any temperature; a strong repetition penalty changes what greedy decoding repeats."""
    request = chat("Write the word cat ten times, separated by spaces.")
    [[greedy]] = any_engine.generate([request], SamplingParams(temperature=0, max_tokens=16))
    top_1 = SamplingParams(temperature=1.5, top_k=1, max_tokens=16, n=2, seed=3)
    assert [c.text for c in any_engine.generate([request], top_1)[0]] == [greedy.text, greedy.text]
    [[penalized]] = any_engine.generate([request], SamplingParams(temperature=0, repetition_penalty=3.0, max_tokens=16))
    assert penalized.text != greedy.text


def test_a_seeded_request_samples_the_same_in_any_batch(any_engine):
    # Its batch-mates (other lengths: left padding on transformers) must not change a seeded request's tokens.
    params = SamplingParams(temperature=1.0, max_tokens=12, n=2, seed=11)
    target = chat("Invent a name for a cat.")
    alone = any_engine.generate([target], params)[0]
    crowded = any_engine.generate([chat("Count to five, one number a line."), target, chat("Hi")], params)[1]
    assert [c.text for c in crowded] == [c.text for c in alone]


def test_a_request_past_the_context_fails_alone(any_engine):
    # 12M characters: tokenizing it, or running the model on it, would exhaust memory; it must fail as data.
    huge = chat("1 + " * 3_000_000)
    out = any_engine.generate([chat("Say hi."), huge, chat("Name a colour.")], SamplingParams(max_tokens=4, n=2))
    assert all(c.finish_reason in ("stop", "length") for c in out[0] + out[2])
    assert len(out[1]) == 2 and all(c.is_error and is_overflow(c.error) for c in out[1]), out[1][0].error
