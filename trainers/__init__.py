"""Trainer adapters: one self-contained file per method, each wrapping TRL (or Trainer) thinly.

`build_<method>(model, tokenizer, dataset, cfg, output_dir, callbacks[, rewards])` returns a ready trainer;
the `harness train` stage owns data, output folder and provenance.
"""

from __future__ import annotations

import importlib

BUILDERS = {
    "sft": "trainers.sft:build_sft",
    "grpo": "trainers.grpo:build_grpo",
    "rank": "trainers.rank:build_rank",
    "dpo": "trainers.dpo:build_dpo",
}


def get_builder(method: str):
    module, name = BUILDERS[method].split(":")
    return getattr(importlib.import_module(module), name)
