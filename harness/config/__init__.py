"""Run configuration: one pydantic model per command, loaded from a YAML file, then overridden by CLI flags.

Each setting is declared once, as a model field; its flag, default, help and YAML key all come from there.
base.py: the pieces every model uses and `load_config`; engine.py: the settings shared by every command that
runs a model; commands.py: the data stages' configs; train.py: training's and the loops'. The resolved config
is saved beside every artifact (`DIR/.harness/config.yaml`) and in its provenance.
"""

from harness.config.base import (
    ConfigError,
    Flag,
    StrictModel,
    load_config,
    parse_column_flags,
    parse_size,
    read_option_files,
    split_commas,
)
from harness.config.commands import (
    DecontamConfig,
    EvalConfig,
    JudgeConfig,
    LineageConfig,
    PushConfig,
    ReportConfig,
    RescoreConfig,
    SelectConfig,
    SynthConfig,
)
from harness.config.engine import (
    ENGINE_SECTIONS,
    OpenAIOptions,
    RayOptions,
    SamplingOverrides,
    VLLMOptions,
)
from harness.config.train import (
    TRAIN_METHODS,
    LoopConfig,
    LoopJudgeSettings,
    LoopSettings,
    PeftSettings,
    ThoughtRankingConfig,
    TrainConfig,
)

__all__ = [
    "ENGINE_SECTIONS", "TRAIN_METHODS", "ConfigError", "DecontamConfig", "EvalConfig", "Flag", "JudgeConfig",
    "LineageConfig", "LoopConfig", "LoopJudgeSettings", "LoopSettings", "OpenAIOptions", "PeftSettings",
    "PushConfig", "RayOptions", "ReportConfig", "RescoreConfig", "SamplingOverrides", "SelectConfig", "StrictModel", "SynthConfig",
    "ThoughtRankingConfig", "TrainConfig", "VLLMOptions", "load_config", "parse_column_flags", "parse_size",
    "read_option_files", "split_commas",
]  # fmt: skip
