"""`harness eval mmlu` on a GPU: lm-eval's `hf` model lands on CUDA by default, and the run is the same shape."""

from __future__ import annotations

import polars as pl
import pytest
from rich.console import Console

from harness.artifacts.writer import read_provenance

pytestmark = pytest.mark.gpu


def test_eval_defaults_to_cuda(tmp_path):
    from harness.config import EvalConfig
    from harness.stages.eval_mmlu import run_eval_mmlu

    run = run_eval_mmlu(EvalConfig(output=str(tmp_path / "run"), subsets=["anatomy"], limit=4), Console(quiet=True))
    assert run.summary.overall.n == 4
    shard = sorted((tmp_path / "run").glob("*.parquet"))[0]
    assert read_provenance(shard)["lm_eval"]["device"] == "cuda"
    assert pl.read_parquet(shard)["choice_logprobs"].list.len().to_list() == [4, 4, 4, 4]
