"""The settings of issue 17 as TrainConfig reads them and as TRL receives them: LoRA (`peft:`), the GPU settings
that cost nothing on a CPU, `report_to`."""

from __future__ import annotations

import pytest

from harness.config import ConfigError, TrainConfig
from harness.stages.train import load_train_config


def config(**settings) -> TrainConfig:
    return TrainConfig(method="sft", input="x.jsonl", output="out", **settings)


def test_a_peft_section_with_flags_on_top(tmp_path):
    recipe = tmp_path / "lora.yaml"
    recipe.write_text("method: sft\npeft: {r: 8, lora_dropout: 0.05, merge: true}\n")
    cfg = load_train_config(
        "sft", str(recipe), {"input": "x", "output": "o", "peft": {"r": 4, "target_modules": "q_proj, v_proj"}}
    )
    assert cfg.peft.model_dump() == {
        "r": 4, "lora_alpha": None, "lora_dropout": 0.05, "target_modules": ["q_proj", "v_proj"], "merge": True
    }  # fmt: skip
    assert config().peft is None
    with pytest.raises(ConfigError, match="peft.r"):
        load_train_config("sft", None, {"input": "x", "output": "o", "peft": {"r": 0}})


def test_cpu_gets_float32_and_no_checkpointing_unless_asked():
    from trl import SFTConfig

    from trainers.common import trl_args

    plain = trl_args(SFTConfig, config(device="cpu"), "ckpt")
    assert (plain.bf16, plain.gradient_checkpointing, plain.use_liger_kernel, plain.report_to) == (
        False,
        False,
        False,
        [],
    )
    assert plain.ddp_find_unused_parameters is False
    asked = trl_args(SFTConfig, config(device="cpu", gradient_checkpointing=True, report_to="none"), "ckpt")
    assert asked.gradient_checkpointing is True
    assert config(report_to="wandb, tensorboard").report_to == ["wandb", "tensorboard"]


def test_liger_without_its_package_is_one_clear_error():
    import importlib.util

    from trl import SFTConfig

    from trainers.common import trl_args

    if importlib.util.find_spec("liger_kernel") is not None:
        pytest.skip("liger-kernel is installed here")
    with pytest.raises(ValueError, match="pip install liger-kernel"):
        trl_args(SFTConfig, config(device="cpu", use_liger_kernel=True), "ckpt")
