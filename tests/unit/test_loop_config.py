"""Loop configs: the thought-ranking loop's judge section from YAML, with flags merged into it key by key."""

from __future__ import annotations

import pytest

from harness.config import ConfigError, LoopConfig, SelectConfig, ThoughtRankingConfig, load_config

BASE = {"input": "q.jsonl", "output": "out"}
NO_JUDGE_FLAGS = {"model": None, "engine": None, "max_tokens": None, "openai": {"base_url": None, "api_key_env": None}}


def test_defaults_are_the_cards():
    cfg = load_config(None, {**BASE, "judge": NO_JUDGE_FLAGS}, ThoughtRankingConfig)
    assert cfg.rounds == 4 and cfg.engine == "transformers" and cfg.task_options == {}
    assert (cfg.judge.model, cfg.judge.engine, cfg.judge.rank_chunk, cfg.judge.max_tokens) == (
        "default",
        "transformers",
        8,
        64,
    )


def test_judge_flags_merge_into_the_files_judge_section(tmp_path):
    path = tmp_path / "loop.yaml"
    path.write_text(
        "input: q.jsonl\noutput: out\njudge:\n  model: served-judge\n  engine: openai\n  rank_chunk: 4\n"
        "  openai:\n    api_key_env: JUDGE_KEY\n    rpm: 60\n"
    )
    flags = {**NO_JUDGE_FLAGS, "openai": {"base_url": "http://127.0.0.1:8000/v1", "api_key_env": None}}
    cfg = load_config(path, {"judge": {**flags, "max_tokens": 32}, "rounds": 2}, ThoughtRankingConfig)
    judge = cfg.judge
    assert (judge.model, judge.engine, judge.rank_chunk, judge.max_tokens) == ("served-judge", "openai", 4, 32)
    assert (judge.openai.base_url, judge.openai.api_key_env, judge.openai.rpm) == (
        "http://127.0.0.1:8000/v1",
        "JUDGE_KEY",
        60,
    )
    assert cfg.rounds == 2


def test_the_policy_engine_must_load_the_trained_model():
    with pytest.raises(ConfigError, match="engine"):
        load_config(None, {**BASE, "engine": "openai"}, ThoughtRankingConfig)


def test_an_unknown_judge_setting_is_named():
    with pytest.raises(ConfigError, match=r"judge\.temperature"):
        load_config(None, {**BASE, "judge": {"temperature": 0.5}}, ThoughtRankingConfig)


def test_select_judge_is_still_a_name_and_star_has_no_judge():
    cfg = load_config(None, {"mode": "best-of-n", "input": "i", "output": "o", "judge": "rank"}, SelectConfig)
    assert cfg.judge == "rank"
    with pytest.raises(ConfigError, match="judge"):
        load_config(None, {**BASE, "judge": {"model": "x"}}, LoopConfig)
