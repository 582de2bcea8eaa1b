"""Sampling from a model's own `generation_config.json`, as `model.generate()` without arguments samples.

The Qwen2.5-1.5B-O1 card calls `model.generate(input_ids, max_new_tokens=3000)`: everything else comes from the
model's generation config. `with_generation_config` reads that file and lays its values over a task's defaults
(the user's flags then go over both). transformers' defaults fill what the file leaves out: no `do_sample`
means greedy decoding, sampling without `top_k` keeps the 50 most likely tokens.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from harness.engines.base import SamplingParams

FILE = "generation_config.json"
HF_TOP_K = 50  # transformers' GenerationConfig default


def read_generation_config(model_path: str) -> dict[str, Any] | None:
    """The model folder's generation config, or None when the model is not a local folder or has none."""
    path = Path(model_path) / FILE
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"{path}: not a readable generation config ({err})") from err
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object")
    return data


def sampling_from(config: dict[str, Any]) -> dict[str, Any]:
    """Our sampling fields as `generate()` would use this generation config (max_new_tokens stays the task's:
    the card passes its own)."""
    values: dict[str, Any] = {"repetition_penalty": float(config.get("repetition_penalty") or 1.0)}
    if not config.get("do_sample", False):
        return {**values, "temperature": 0.0}
    top_k = config.get("top_k", HF_TOP_K)
    return {
        **values,
        "temperature": float(config.get("temperature", 1.0)),
        "top_p": float(config.get("top_p") or 1.0),
        "top_k": int(top_k or 0),
        "min_p": float(config.get("min_p") or 0.0),
    }


def with_generation_config(defaults: SamplingParams, model_path: str) -> tuple[SamplingParams, dict[str, Any] | None]:
    """`defaults` with the model's generation config over them, and the values taken (None: the model has no
    generation config here, e.g. a remote server's model; the defaults stay)."""
    config = read_generation_config(model_path)
    if config is None:
        return defaults, None
    taken = sampling_from(config)
    return dataclasses.replace(defaults, **taken), taken
