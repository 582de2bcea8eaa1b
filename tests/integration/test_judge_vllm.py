"""`harness judge --engine vllm`: an LLM judge through the real vLLM engine on a tiny real synth artifact.

Both stages borrow the session's vLLM engine (built once, `vllm_engine`) where they would build their own, so
the test pays for no second engine. A 135M judge rarely writes "Score: N": most replies are unparsable, the
"verdict with a reason" path, so the test asserts counts (requests, rows, scored + unparsable) and that every
stored score is what the parser reads from the stored reply, not what the model happened to say.
"""

from __future__ import annotations

import polars as pl
import pytest

from harness.artifacts.writer import read_provenance
from harness.config import JudgeConfig, SynthConfig
from harness.stages.judge import run_judge
from harness.stages.synth import run_synth
from judges.judge_parsing import parse_score
from judges.judge_prompts import fence
from tests.integration.borrowed_engine import lend_engine
from tests.unit.judged_samples import read_summary

pytestmark = pytest.mark.slow

QUESTIONS, SAMPLES = 2, 2
FEW_TOKENS = 8  # enough for "Score: 7"


def test_score_judge_on_vllm_over_a_vllm_synth_run(tmp_path, vllm_engine, monkeypatch):
    built = lend_engine(monkeypatch, vllm_engine, "vllm")
    synth = SynthConfig(task="star", input="sample", output=str(tmp_path / "star"), limit=QUESTIONS, engine="vllm")
    synth.sampling.n, synth.sampling.max_tokens, synth.sampling.seed = SAMPLES, 24, 0
    run_synth(synth)
    traces = pl.read_parquet(tmp_path / "star" / "*.parquet")
    assert traces.height == QUESTIONS * SAMPLES
    answered = [isinstance(c, str) and c.strip() != "" for c in traces["completion"]]

    cfg = JudgeConfig(
        input=str(tmp_path / "star"),
        output=str(tmp_path / "judged"),
        judges=["score", "exact"],
        columns={"response": "completion"},  # 24 tokens rarely reach "### Answer:": judge the whole completion
        engine="vllm",
        max_tokens=FEW_TOKENS,
    )
    summary = run_judge(cfg)
    assert built == ["vllm", "vllm"]  # synth and judge each asked for a vLLM engine
    assert summary.rows == QUESTIONS * SAMPLES and summary.questions == QUESTIONS and summary.failed_questions == 0
    assert summary.requests == sum(answered)  # one score request per answer; none for an empty completion

    df = pl.read_parquet(tmp_path / "judged" / "*.parquet").sort("source_index", "sample_idx")
    assert df.select("record_id", "sample_idx", "completion").equals(
        traces.sort("source_index", "sample_idx").select("record_id", "sample_idx", "completion")
    )
    assert df["candidate_idx"].to_list() == list(range(SAMPLES)) * QUESTIONS
    calibration = read_summary(tmp_path / "judged")
    score = calibration["score"]
    assert score["kind"] == "score" and score["rows"] == df.height and score["requests"] == summary.requests
    assert sum(score["score_histogram"].values()) == score["scored"]
    replies = df["judge_score_output"].to_list()
    assert sum(r is not None for r in replies) == sum(answered)  # every request answered, by vLLM
    assert score["scored"] + score["unparsable"] == sum(answered)  # each reply read as a score, or said why not
    assert calibration["exact"]["rows"] == df.height
    for row in df.iter_rows(named=True):
        assert row["judge_score_reason"]
        if row["judge_score_output"] is None:
            assert row["judge_score_score"] is None
            continue
        parsed = parse_score(row["judge_score_output"], [fence(row["completion"])], 1, 10)
        assert (row["judge_score_score"], row["judge_score_reason"]) == (parsed.value, parsed.reason)

    provenance = read_provenance(sorted((tmp_path / "judged").glob("*.parquet"))[0])
    assert provenance["stage"] == "judge" and provenance["engine"]["engine"] == "vllm"
    assert provenance["judge_tally"]["score"]["rows"] == df.height  # one shard: 2 questions < 4 per shard
