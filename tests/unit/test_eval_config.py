"""`harness eval mmlu` settings: YAML plus flags, the seed of the draw, generative-only options."""

from __future__ import annotations

import pytest

from harness.config import ConfigError, EvalConfig, load_config


def test_flags_over_yaml_and_the_seed_stays_the_runs(tmp_path):
    path = tmp_path / "eval.yaml"
    path.write_text("subsets: stem\nlimit: 5\nmode: generative\nsampling:\n  temperature: 0.5\n")
    cfg = load_config(path, {"output": "out", "seed": 3, "max_tokens": 64, "subsets": "anatomy, virology"}, EvalConfig)
    assert cfg.subsets == ["anatomy", "virology"]
    assert cfg.seed == 3 and cfg.sampling.seed is None  # the draw's seed, not a sampling override
    assert (cfg.sampling.temperature, cfg.sampling.max_tokens) == (0.5, 64)
    assert cfg.task == "structured" and cfg.limit == 5 and cfg.mode == "generative"


def test_defaults():
    cfg = EvalConfig(output="out")
    assert (cfg.mode, cfg.subsets, cfg.dataset, cfg.engine, cfg.batch_size) == (
        "loglikelihood",
        ["all"],
        "bundled",
        "transformers",
        8,
    )


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"mode": "cloze", "task": "structured"}, "apply to --mode generative, not cloze"),
        ({"temperature": 0.2}, "sampling settings apply to --mode generative"),
        ({"mode": "multiple"}, "mode"),
        ({"limit": 0}, "limit"),
    ],
)
def test_bad_settings_are_config_errors(overrides, expected):
    with pytest.raises(ConfigError, match=expected):
        load_config(None, {"output": "out", **overrides}, EvalConfig)
