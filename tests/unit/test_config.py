"""harness/config.py: YAML + flags, sampling overrides over the task's defaults, clear errors naming the field."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from harness.config import ConfigError, JudgeConfig, SamplingOverrides, SynthConfig, load_config
from harness.engines.base import SamplingParams
from tasks.backfill import BackfillTask

BASE = "task: backfill\ninput: data.jsonl\noutput: out\n"


def yaml_file(tmp_path: Path, text: str, name: str = "run.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# -- loading and precedence ------------------------------------------------------------------------------------
def test_defaults_from_flags_only():
    cfg = load_config(None, {"task": "backfill", "input": "in.jsonl", "output": "out"}, SynthConfig)
    assert cfg == SynthConfig(task="backfill", input="in.jsonl", output="out")
    assert (cfg.model, cfg.engine, cfg.batch_size, cfg.split, cfg.cache) == (
        "default",
        "transformers",
        8,
        "train",
        True,
    )
    assert cfg.sampling == SamplingOverrides()
    assert cfg.shard_parts() is None


def test_yaml_file_is_read(tmp_path):
    path = yaml_file(tmp_path, BASE + "model: m\nbatch_size: 4\nsampling:\n  temperature: 0.2\n  stop: ['a', 'b']\n")
    cfg = load_config(path, {}, SynthConfig)
    assert (cfg.task, cfg.input, cfg.output, cfg.model, cfg.batch_size) == ("backfill", "data.jsonl", "out", "m", 4)
    assert cfg.sampling.temperature == 0.2
    assert cfg.sampling.stop == ["a", "b"]


def test_flag_beats_file_and_unset_flag_keeps_file_value(tmp_path):
    path = yaml_file(tmp_path, BASE + "model: from-file\nbatch_size: 4\nlimit: 10\n")
    cfg = load_config(
        path, {"model": "from-flag", "batch_size": None, "limit": None, "output": "flag-out"}, SynthConfig
    )
    assert cfg.model == "from-flag"
    assert cfg.output == "flag-out"
    assert cfg.batch_size == 4
    assert cfg.limit == 10


def test_false_and_zero_flags_are_given_not_unset(tmp_path):
    path = yaml_file(tmp_path, BASE + "cache: true\nsampling:\n  temperature: 0.9\n")
    cfg = load_config(path, {"cache": False, "temperature": 0.0}, SynthConfig)
    assert cfg.cache is False
    assert cfg.sampling.temperature == 0.0


def test_sampling_flags_merge_into_the_file_sampling(tmp_path):
    path = yaml_file(tmp_path, BASE + "sampling:\n  temperature: 0.3\n  top_p: 0.5\n")
    cfg = load_config(path, {"temperature": 0.6, "top_p": None, "max_tokens": 64}, SynthConfig)
    assert cfg.sampling == SamplingOverrides(temperature=0.6, top_p=0.5, max_tokens=64)


def test_column_flags_merge_into_the_file_columns(tmp_path):
    path = yaml_file(tmp_path, BASE + "columns:\n  instruction: question\n  solution: answer\n")
    cfg = load_config(path, {"columns": {"solution": "final"}}, SynthConfig)
    assert cfg.columns == {"instruction": "question", "solution": "final"}


def test_empty_yaml_file_is_no_settings(tmp_path):
    path = yaml_file(tmp_path, "# nothing here\n")
    cfg = load_config(path, {"task": "backfill", "input": "i", "output": "o"}, SynthConfig)
    assert cfg.task == "backfill"


def test_shard_parts():
    cfg = load_config(None, {"task": "backfill", "input": "i", "output": "o", "shard": "1/4"}, SynthConfig)
    assert cfg.shard_parts() == (1, 4)


# -- sampling overrides over task defaults ---------------------------------------------------------------------
def test_no_overrides_keep_the_task_defaults():
    assert SamplingOverrides().apply(BackfillTask.defaults) == BackfillTask.defaults


def test_overrides_replace_only_what_is_given():
    params = SamplingOverrides(temperature=0.0, max_tokens=2048, stop=["</s>", "<|im_end|>"]).apply(
        BackfillTask.defaults
    )
    assert params == SamplingParams(
        temperature=0.0, top_p=0.9, min_p=0.05, max_tokens=2048, stop=("</s>", "<|im_end|>"), seed=None
    )
    assert isinstance(params.stop, tuple)


def test_overrides_from_config_reach_the_params(tmp_path):
    path = yaml_file(tmp_path, BASE + "sampling:\n  top_p: 0.5\n  seed: 7\n  n: 3\n")
    params = load_config(path, {"top_p": 0.95}, SynthConfig).sampling.apply(BackfillTask.defaults)
    assert (params.temperature, params.top_p, params.seed, params.n) == (0.7, 0.95, 7, 3)


def test_empty_stop_list_overrides_the_default_stop():
    assert SamplingOverrides(stop=[]).apply(BackfillTask.defaults).stop == ()


# -- invalid values --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("sampling", "message"),
    [
        ("temperature: -0.5", "sampling: temperature must be >= 0, got -0.5"),
        ("top_p: 0", "sampling: top_p must be in (0, 1], got 0.0"),
        ("top_p: 1.5", "sampling: top_p must be in (0, 1], got 1.5"),
        ("min_p: 1", "sampling: min_p must be in [0, 1), got 1.0"),
        ("max_tokens: 0", "sampling: max_tokens must be >= 1, got 0"),
        ("n: 0", "sampling: n must be >= 1, got 0"),
        ("stop: ['']", "sampling: stop strings must not be empty"),
    ],
)
def test_invalid_sampling_values_give_a_config_error_naming_the_field(tmp_path, sampling, message):
    path = yaml_file(tmp_path, BASE + f"sampling:\n  {sampling}\n")
    cfg = load_config(path, {}, SynthConfig)
    with pytest.raises(ConfigError, match=f"^{re.escape(message)}$"):
        cfg.sampling.apply(BackfillTask.defaults)


def test_invalid_sampling_flag_gives_a_config_error():
    cfg = load_config(
        None, {"task": "backfill", "input": "i", "output": "o", "temperature": -1.0, "top_p": 0.0}, SynthConfig
    )
    with pytest.raises(ConfigError) as err:
        cfg.sampling.apply(BackfillTask.defaults)
    assert str(err.value) == "sampling: temperature must be >= 0, got -1.0; top_p must be in (0, 1], got 0.0"


@pytest.mark.parametrize(
    ("line", "field"),
    [
        ("sampling:\n  temperature: hot", "sampling.temperature"),
        ("sampling:\n  max_tokens: 1.5", "sampling.max_tokens"),
        ("batch_size: 0", "batch_size"),
        ("limit: 0", "limit"),
        ("threads: 0", "threads"),
        ("cache: maybe", "cache"),
        ("columns: [a, b]", "columns"),
    ],
)
def test_invalid_file_values_name_the_field(tmp_path, line, field):
    path = yaml_file(tmp_path, BASE + line + "\n")
    with pytest.raises(ConfigError, match=rf"^{re.escape(str(path))}: {re.escape(field)}: "):
        load_config(path, {}, SynthConfig)


@pytest.mark.parametrize("shard", ["3/2", "2/2", "-1/2", "1of2", "1/0", "a/b", ""])
def test_bad_shard(shard):
    with pytest.raises(ConfigError) as err:
        load_config(None, {"task": "backfill", "input": "i", "output": "o", "shard": shard}, SynthConfig)
    assert str(err.value) == f"flags: shard: Value error, shard must look like I/N with 0 <= I < N, got {shard!r}"


def test_unknown_key_in_yaml(tmp_path):
    path = yaml_file(tmp_path, BASE + "temprature: 0.5\n")
    with pytest.raises(ConfigError) as err:
        load_config(path, {}, SynthConfig)
    assert str(err.value) == f"{path}: temprature: Extra inputs are not permitted"


def test_unknown_sampling_key_in_yaml(tmp_path):
    path = yaml_file(tmp_path, BASE + "sampling:\n  top_q: 5\n")
    with pytest.raises(
        ConfigError, match=rf"^{re.escape(str(path))}: sampling\.top_q: Extra inputs are not permitted$"
    ):
        load_config(path, {}, SynthConfig)


def test_missing_required_fields_are_all_named_with_where_to_give_them():
    with pytest.raises(ConfigError) as err:
        load_config(None, {"input": "runs/x"}, JudgeConfig)
    assert str(err.value) == (
        "flags: output: missing; give --output or set `output:` in the config file; "
        "judges: missing; give --judge or set `judges:` in the config file"
    )


@pytest.mark.parametrize("text", ["- task: backfill\n- input: x\n", "just a string\n", "42\n"])
def test_yaml_that_is_not_a_mapping(tmp_path, text):
    path = yaml_file(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_config(path, {}, SynthConfig)
    assert str(err.value) == f"{path}: expected a mapping of settings at the top level"


def test_invalid_yaml(tmp_path):
    path = yaml_file(tmp_path, "task: [backfill\n")
    with pytest.raises(ConfigError, match=rf"^{re.escape(str(path))}: not valid YAML \("):
        load_config(path, {}, SynthConfig)


def test_missing_config_file(tmp_path):
    path = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError) as err:
        load_config(path, {}, SynthConfig)
    assert str(err.value) == f"{path}: cannot read config (No such file or directory)"


def test_config_path_is_a_folder(tmp_path):
    with pytest.raises(ConfigError, match=rf"^{re.escape(str(tmp_path))}: cannot read config \(Is a directory\)$"):
        load_config(tmp_path, {}, SynthConfig)


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root can read a chmod 000 file")
def test_unreadable_config_file(tmp_path):
    path = yaml_file(tmp_path, BASE)
    path.chmod(0)
    try:
        with pytest.raises(ConfigError) as err:
            load_config(path, {}, SynthConfig)
        assert str(err.value) == f"{path}: cannot read config (Permission denied)"
    finally:
        path.chmod(0o644)


def test_unreadable_config_file_simulated(tmp_path, monkeypatch):
    """The chmod test cannot run as root; fail the read the way the OS would."""
    path = yaml_file(tmp_path, BASE)

    def refuse(self, *args, **kwargs):
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "read_text", refuse)
    with pytest.raises(ConfigError) as err:
        load_config(path, {}, SynthConfig)
    assert str(err.value) == f"{path}: cannot read config (Permission denied)"


def test_non_utf8_config_file(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_bytes(BASE.encode() + b"model: caf\xe9\n")
    with pytest.raises(ConfigError, match=re.escape(str(path))):
        load_config(path, {}, SynthConfig)


def test_empty_sampling_section_with_a_sampling_flag(tmp_path):
    path = yaml_file(tmp_path, BASE + "sampling:\n")
    assert load_config(path, {"temperature": 0.5}, SynthConfig).sampling.temperature == 0.5


def test_empty_columns_section_with_a_column_flag(tmp_path):
    path = yaml_file(tmp_path, BASE + "columns:\n")
    assert load_config(path, {"columns": {"instruction": "q"}}, SynthConfig).columns == {"instruction": "q"}


# -- engine sections -------------------------------------------------------------------------------------------
def test_engine_flags_land_in_their_sections(tmp_path):
    path = yaml_file(tmp_path, BASE + "engine: openai\nopenai:\n  base_url: http://h/v1\n  concurrency: 4\n")
    cfg = load_config(
        path, {"concurrency": 32, "rpm": 600, "tensor_parallel_size": 2, "api_key_env": None}, SynthConfig
    )
    assert cfg.openai.base_url == "http://h/v1" and cfg.openai.concurrency == 32 and cfg.openai.rpm == 600
    assert cfg.openai.api_key_env == "OPENAI_API_KEY" and cfg.vllm.tensor_parallel_size == 2


def test_empty_engine_section_with_a_flag(tmp_path):
    path = yaml_file(tmp_path, BASE + "vllm:\n")
    assert load_config(path, {"max_model_len": 4096}, SynthConfig).vllm.max_model_len == 4096


@pytest.mark.parametrize(
    ("given", "expected"),
    [("256MiB", 256 << 20), ("1.5GiB", int(1.5 * (1 << 30))), ("2GB", 2 * 10**9), ("1024", 1024), (4096, 4096)],
)
def test_kv_cache_size_takes_units(given, expected):
    cfg = load_config(
        None, {"task": "backfill", "input": "i", "output": "o", "kv_cache_memory_bytes": given}, SynthConfig
    )
    assert cfg.vllm.kv_cache_memory_bytes == expected


def test_bad_engine_settings_are_named(tmp_path):
    path = yaml_file(tmp_path, BASE + "vllm:\n  kv_cache_memory_bytes: lots\n  tensor_parallel_sise: 2\n")
    with pytest.raises(ConfigError) as err:
        load_config(path, {"concurrency": 0}, SynthConfig)
    message = str(err.value)
    assert "vllm.kv_cache_memory_bytes" in message and "expected a size such as 256MiB" in message
    assert "vllm.tensor_parallel_sise: Extra inputs are not permitted" in message
    assert "openai.concurrency: Input should be greater than or equal to 1" in message


def test_prices_and_budget_are_checked_by_name(tmp_path):
    path = yaml_file(tmp_path, BASE + "price_output: -1\nmax_cost: 0\n")
    with pytest.raises(ConfigError) as err:
        load_config(path, {}, SynthConfig)
    assert "price_output: Input should be greater than or equal to 0" in str(err.value)
    assert "max_cost: Input should be greater than 0" in str(err.value)


def test_no_field_belongs_to_two_engine_sections():
    from harness.config import ENGINE_SECTIONS

    fields = [set(model.model_fields) for model in ENGINE_SECTIONS.values()]
    assert not set.intersection(*fields) and not set.union(*fields) & set(SynthConfig.model_fields)
