"""`harness judge` through the OpenAI-compatible engine against a real local vLLM server (an external judge, as
the thought-ranking card uses one); skipped, saying why, where vLLM is not installed."""

from __future__ import annotations

import subprocess
import sys

import polars as pl
import pytest

from harness.artifacts.writer import read_provenance
from harness.config import JudgeConfig, OpenAIOptions
from harness.stages.judge import run_judge
from tests.integration.fault_proxy import FaultProxy
from tests.unit.judged_samples import read_summary, star_artifact

pytestmark = pytest.mark.slow

# Two questions, two answers each.
ANSWERS = {0: ["43 / 1 = 43.\n### Answer: 43", "It is 42.\n### Answer: 42"], 5: ["### Answer: 60", "### Answer: 66"]}


def judge_through(url: str, model: str, tmp_path, out: str, **openai) -> object:
    cfg = JudgeConfig(
        input=str(tmp_path / "star"),
        output=str(tmp_path / out),
        judges=["score", "pairwise", "exact"],
        columns={"response": "completion"},
        engine="openai",
        model=model,
        max_tokens=8,
        batch_size=1,  # one question per shard: a failed question leaves the other committed
        openai=OpenAIOptions(base_url=url, timeout=60, **openai),
    )
    return run_judge(cfg)


def test_judge_through_a_real_local_server(tmp_path, vllm_server):
    star_artifact(tmp_path / "star", ANSWERS)
    summary = judge_through(vllm_server.url, vllm_server.model_path, tmp_path, "judged")
    assert summary.rows == 4 and summary.failed_questions == 0
    assert summary.requests == 4 + 2 * 2  # score: a request per answer; pairwise: one pair per question, 2 orders
    calibration = read_summary(tmp_path / "judged")
    assert (calibration["score"]["requests"], calibration["pairwise"]["requests"]) == (4, 4)
    assert calibration["exact"]["scored"] == 4
    df = pl.read_parquet(tmp_path / "judged" / "*.parquet")
    assert df["judge_score_output"].null_count() == 0  # every request answered
    shard = sorted((tmp_path / "judged").glob("*.parquet"))[0]
    provenance = read_provenance(shard)
    assert provenance["engine"]["engine"] == "openai"
    assert provenance["model"]["fingerprint"] == f"openai:{vllm_server.model_path}"
    assert provenance["stage"] == "judge"
    assert provenance["engine_usage"]["requests"] >= 1


def test_a_question_whose_request_failed_is_judged_again_by_a_rerun(tmp_path, vllm_server):
    star_artifact(tmp_path / "star", ANSWERS)
    broken = "It is 42."  # an answer of question 0

    def always_500(text: str, attempt: int) -> str | None:
        return "500" if broken in text else None

    with FaultProxy(vllm_server.url, rule=always_500) as proxy:
        first = judge_through(proxy.url, vllm_server.model_path, tmp_path, "judged", max_retries=0)
    assert first.failed_questions == 1 and first.rows == 2  # question 5 committed, question 0 not
    assert pl.read_parquet(tmp_path / "judged" / "*.parquet")["source_index"].unique().to_list() == [5]
    with FaultProxy(vllm_server.url) as healthy:
        second = judge_through(healthy.url, vllm_server.model_path, tmp_path, "judged", max_retries=0)
    assert second.rows == 2 and second.rows_skipped == 2 and second.failed_questions == 0
    df = pl.read_parquet(tmp_path / "judged" / "*.parquet")
    assert sorted(df["source_index"].to_list()) == [0, 0, 5, 5]
    assert read_summary(tmp_path / "judged")["score"]["rows"] == 4


def test_cli_needs_a_base_url_for_the_openai_engine(tmp_path):
    star_artifact(tmp_path / "star", ANSWERS)
    args = ["judge", "-i", str(tmp_path / "star"), "-o", str(tmp_path / "j"), "-j", "score", "--engine", "openai"]
    result = subprocess.run(
        [sys.executable, "-m", "harness.cli", *args, "--model", "m"], capture_output=True, text=True
    )
    assert result.returncode == 2 and "needs --base-url" in result.stderr
    assert not (tmp_path / "j").exists()  # refused before any work
