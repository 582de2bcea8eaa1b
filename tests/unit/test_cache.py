"""harness/engines/cache.py: canonical request keys, the SQLite generation cache, and generation through it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from harness.engines.base import Completion, Request, SamplingParams
from harness.engines.cache import GenerationCache, cache_dir, cached_generate, canonical_json, file_lock, request_key

MESSAGES = ({"role": "system", "content": "sys"}, {"role": "user", "content": "hi"})
REQUEST = Request(messages=MESSAGES, assistant_prefix="<|thinking_start|>\n")
PARAMS = SamplingParams(temperature=0.7, top_p=0.9, min_p=0.05, max_tokens=64, stop=("<|im_end|>",))


def key(request: Request = REQUEST, params: SamplingParams = PARAMS, model: str = "m@1", engine: str = "hf") -> str:
    return request_key(request, params, model, engine)


# -- keys ------------------------------------------------------------------------------------------------------
def test_key_is_a_stable_sha256():
    assert key() == key()
    assert re.fullmatch(r"[0-9a-f]{64}", key())
    same = Request(
        messages=tuple(dict(m) for m in MESSAGES), assistant_prefix="<|thinking_start|>\n"
    )  # equal content, new objects
    assert key(same) == key()


def test_key_ignores_dict_order_in_messages():
    reordered = Request(messages=tuple({"content": m["content"], "role": m["role"]} for m in MESSAGES),
                        assistant_prefix=REQUEST.assistant_prefix)  # fmt: skip
    assert key(reordered) == key()


@pytest.mark.parametrize(
    "change",
    [
        {"temperature": 0.8},
        {"top_p": 0.95},
        {"min_p": 0.0},
        {"max_tokens": 65},
        {"n": 2},
        {"stop": ("<|im_end|>", "</s>")},
        {"stop": ()},
        {"seed": 0},
        {"logprobs": 1},
    ],
)
def test_key_changes_with_any_param(change):
    params = SamplingParams(**{**PARAMS.__dict__, **change})
    assert key(params=params) != key()


@pytest.mark.parametrize(
    "request_",
    [
        Request(messages=({"role": "system", "content": "sys"}, {"role": "user", "content": "hi!"})),
        Request(messages=({"role": "system", "content": "sys"}, {"role": "user", "content": "hi"})),  # no prefix
        Request(messages=MESSAGES, assistant_prefix="<|thinking_start|>"),
        Request(messages=MESSAGES[1:], assistant_prefix="<|thinking_start|>\n"),
        Request(messages=(MESSAGES[1], MESSAGES[0]), assistant_prefix="<|thinking_start|>\n"),
        Request(
            messages=({"role": "system", "content": "sys"}, {"role": "assistant", "content": "hi"}),
            assistant_prefix="<|thinking_start|>\n",
        ),  # fmt: skip
        Request(prompt="sys hi <|thinking_start|>\n"),
    ],
)
def test_key_changes_with_messages_and_prefix(request_):
    assert key(request_) != key()


def test_key_changes_with_model_and_engine():
    assert key(model="m@2") != key()
    assert key(engine="vllm") != key()
    assert key(model="hf", engine="m@1") != key()  # fields do not run together


def test_prompt_and_messages_never_collide():
    assert key(Request(prompt="hi")) != key(Request(messages=({"role": "user", "content": "hi"},)))


def test_canonical_json_is_sorted_compact_and_unicode():
    assert canonical_json({"b": 1, "a": ["é", None]}) == '{"a":["é",null],"b":1}'
    assert canonical_json({"p": Path("/x")}) == '{"p":"/x"}'


# -- cache directory and lock ----------------------------------------------------------------------------------
def test_cache_dir_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("HARNESS_CACHE_DIR", str(tmp_path / "mine"))
    assert cache_dir() == tmp_path / "mine"
    monkeypatch.delenv("HARNESS_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "reasoning-harness"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_dir() == tmp_path / "home" / ".cache" / "reasoning-harness"


def test_default_cache_lives_in_the_cache_dir(tmp_path):
    cache = GenerationCache.default()
    try:
        assert cache.path == tmp_path / "harness-cache" / "generations.sqlite"
        assert cache.path.exists()
    finally:
        cache.close()


def test_file_lock_is_exclusive_and_released(tmp_path):
    lock = tmp_path / "sub" / "lock"
    locked = re.escape(f"{lock} is locked by another running process")
    with file_lock(lock, blocking=False), pytest.raises(RuntimeError, match=locked), file_lock(lock, blocking=False):
        pass
    with file_lock(lock, blocking=False):  # released on exit
        pass


# -- the generation cache --------------------------------------------------------------------------------------
def completion(text: str, idx: int = 0, **kw) -> Completion:
    return Completion(text=text, finish_reason="stop", prompt_tokens=3, completion_tokens=2, sample_idx=idx, **kw)


@pytest.fixture
def cache(tmp_path):
    c = GenerationCache(tmp_path / "c" / "gen.sqlite")
    yield c
    c.close()


def test_put_get_round_trip_with_unicode(cache):
    items = {
        "k1": [completion("héllo wörld ✓ 数学 😀 \x00 null byte", 0), completion("second", 1)],
        "k2": [completion("with logprobs", logprobs=[{"token": "é", "logprob": -0.5, "top": {"a": -1.0}}])],
    }
    cache.put_many(items)
    assert cache.get_many(["k1", "k2", "absent"]) == items


def test_get_of_nothing(cache):
    assert cache.get_many([]) == {}
    assert cache.get_many(["nope"]) == {}


def test_put_replaces(cache):
    cache.put_many({"k": [completion("old")]})
    cache.put_many({"k": [completion("new")]})
    assert cache.get_many(["k"]) == {"k": [completion("new")]}


def test_cache_persists_across_connections(tmp_path):
    path = tmp_path / "gen.sqlite"
    first = GenerationCache(path)
    first.put_many({"k": [completion("kept")]})
    first.close()
    second = GenerationCache(path)
    try:
        assert second.get_many(["k"])["k"][0].text == "kept"
    finally:
        second.close()


def test_get_many_beyond_the_sqlite_parameter_limit(cache):
    items = {f"k{i}": [completion(str(i))] for i in range(1203)}
    cache.put_many(items)
    got = cache.get_many(list(items) + ["missing"])
    assert got == items


# -- generating through the cache ------------------------------------------------------------------------------
class FakeEngine:
    """Echoes each request's last message; records every batch it was asked for."""

    name = "fake"

    def __init__(self) -> None:
        self.calls: list[list[Request]] = []

    def generate(self, requests: list[Request], params: SamplingParams) -> list[list[Completion]]:
        self.calls.append(list(requests))
        return [[completion(f"{r.messages[-1]['content']}#{i}", i) for i in range(params.n)] for r in requests]


def chat(text: str) -> Request:
    return Request(messages=({"role": "user", "content": text},))


def texts(results: list[list[Completion]]) -> list[list[str]]:
    return [[c.text for c in samples] for samples in results]


def test_without_a_cache_every_request_goes_to_the_engine():
    backend = FakeEngine()
    results, hits = cached_generate(backend, None, [chat("a"), chat("b")], PARAMS, "m")
    assert texts(results) == [["a#0"], ["b#0"]]
    assert hits == [False, False]
    results, hits = cached_generate(backend, None, [chat("a")], PARAMS, "m")
    assert hits == [False]
    assert len(backend.calls) == 2


def test_only_misses_reach_the_engine_and_hits_come_back_in_order(cache):
    backend = FakeEngine()
    results, hits = cached_generate(backend, cache, [chat("a"), chat("b")], PARAMS, "m")
    assert texts(results) == [["a#0"], ["b#0"]]
    assert hits == [False, False]

    results, hits = cached_generate(backend, cache, [chat("c"), chat("a"), chat("d"), chat("b")], PARAMS, "m")
    assert texts(results) == [["c#0"], ["a#0"], ["d#0"], ["b#0"]]
    assert hits == [False, True, False, True]
    assert [[r.messages[-1]["content"] for r in call] for call in backend.calls] == [["a", "b"], ["c", "d"]]


def test_all_hits_never_call_the_engine(cache):
    backend = FakeEngine()
    cached_generate(backend, cache, [chat("a"), chat("b")], PARAMS, "m")
    results, hits = cached_generate(backend, cache, [chat("b"), chat("a")], PARAMS, "m")
    assert hits == [True, True]
    assert texts(results) == [["b#0"], ["a#0"]]
    assert len(backend.calls) == 1


def test_a_different_param_model_or_engine_is_a_miss(cache):
    backend = FakeEngine()
    cached_generate(backend, cache, [chat("a")], PARAMS, "m")
    assert cached_generate(backend, cache, [chat("a")], SamplingParams(**{**PARAMS.__dict__, "seed": 1}), "m")[1] == [
        False
    ]
    assert cached_generate(backend, cache, [chat("a")], PARAMS, "m2")[1] == [False]
    other = FakeEngine()
    other.name = "other-engine"
    assert cached_generate(other, cache, [chat("a")], PARAMS, "m")[1] == [False]
    assert cached_generate(backend, cache, [chat("a")], PARAMS, "m")[1] == [True]


def test_all_n_samples_are_cached_together(cache):
    backend = FakeEngine()
    params = SamplingParams(n=3)
    first, _ = cached_generate(backend, cache, [chat("a")], params, "m")
    again, hits = cached_generate(backend, cache, [chat("a")], params, "m")
    assert hits == [True]
    assert again == first
    assert [c.sample_idx for c in again[0]] == [0, 1, 2]


def test_the_cache_survives_a_new_connection(tmp_path):
    backend = FakeEngine()
    path = tmp_path / "gen.sqlite"
    first = GenerationCache(path)
    cached_generate(backend, first, [chat("é ✓")], PARAMS, "m")
    first.close()
    second = GenerationCache(path)
    try:
        results, hits = cached_generate(backend, second, [chat("é ✓")], PARAMS, "m")
    finally:
        second.close()
    assert hits == [True]
    assert texts(results) == [["é ✓#0"]]


def test_an_empty_batch(cache):
    backend = FakeEngine()
    assert cached_generate(backend, cache, [], PARAMS, "m") == ([], [])
    assert backend.calls == []


def test_engine_failure_caches_nothing(cache):
    class Broken(FakeEngine):
        def generate(self, requests, params):
            raise RuntimeError("engine died")

    with pytest.raises(RuntimeError, match="engine died"):
        cached_generate(Broken(), cache, [chat("a")], PARAMS, "m")
    assert cached_generate(FakeEngine(), cache, [chat("a")], PARAMS, "m")[1] == [False]


def test_failed_requests_are_not_cached_so_a_rerun_retries_them(cache):
    class Flaky(FakeEngine):
        def generate(self, requests, params):
            self.calls.append(list(requests))
            return [Completion.failed("HTTP 500", params.n) if "bad" in r.messages[-1]["content"] else
                    [completion("ok", i) for i in range(params.n)] for r in requests]  # fmt: skip

    flaky = Flaky()
    results, _ = cached_generate(flaky, cache, [chat("good"), chat("bad")], PARAMS, "m")
    assert [c.is_error for c in results[1]] == [True]
    backend = FakeEngine()
    results, hits = cached_generate(backend, cache, [chat("good"), chat("bad")], PARAMS, "m")
    assert hits == [True, False] and texts(results) == [["ok"], ["bad#0"]]
    assert backend.calls == [[chat("bad")]]
