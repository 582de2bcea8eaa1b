"""A prompt past the context of a real vLLM server (`--max-model-len 2048`), through the openai engine: the
server's refusal (HTTP 400, "This model's maximum context length is ...") fails that request at once, never
retried, as a `context_overflow` row in synth and a null score in judge, counted apart from engine errors; a
judge rerun skips the question instead of asking again. The row is 6,000 characters, under the server's own
bound in characters (2048 tokens x the longest vocabulary entry), so the server tokenizes it and refuses it
by its tokens, the refusal a real long row meets."""

from __future__ import annotations

import json

import polars as pl
import pytest

from harness.cli.judge import judge_table
from harness.config import JudgeConfig, OpenAIOptions, SynthConfig
from harness.engines.base import Request, SamplingParams
from harness.engines.context import is_overflow
from harness.stages.judge import run_judge
from harness.stages.synth import run_synth
from tests.integration.test_context_and_seeds import rendered
from tests.unit.judged_samples import read_summary, star_artifact

pytestmark = pytest.mark.slow

LONG = "1 + " * 1500  # about 4,500 tokens: past 2048, and far under the server's 165,888-character bound


def test_the_servers_refusal_is_an_overflow_at_once(openai_engine):
    retries = openai_engine.usage.retries
    chat = [Request(messages=({"role": "user", "content": text},)) for text in ("Say hi.", LONG)]
    short, refused = openai_engine.generate(chat, SamplingParams(max_tokens=2))
    assert short[0].finish_reason in ("stop", "length")
    assert refused[0].is_error and is_overflow(refused[0].error), refused[0].error
    assert "maximum context length is 2048" in refused[0].error and "input tokens" in refused[0].error
    assert openai_engine.usage.retries == retries  # not retried


def test_synth_and_judge_count_the_servers_refusal_apart(tmp_path, vllm_server):
    server = OpenAIOptions(base_url=vllm_server.url, timeout=60)
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps({"instruction": i, "solution": "?"}) + "\n" for i in ("Add 2 and 3.", LONG)))
    cfg = SynthConfig(task="backfill", input=str(source), output=str(tmp_path / "synth"), cache=False,
                      engine="openai", model=vllm_server.model_path, openai=server)  # fmt: skip
    cfg.sampling.max_tokens = 2
    summary = run_synth(cfg)
    assert (summary.context_overflows, summary.engine_errors) == (1, 0) and summary.engine_usage["retries"] == 0
    reason = pl.read_parquet(tmp_path / "synth" / "*.parquet").sort("source_index")["rejection_reason"][1]
    assert reason.startswith("context_overflow: prompt too long for the context: the server refused it (HTTP 400")

    star_artifact(tmp_path / "star", {0: ["### Answer: 43", "### Answer: 42"], 5: ["### Answer: 60", LONG]})
    judge = JudgeConfig(input=str(tmp_path / "star"), output=str(tmp_path / "judged"), judges=["score", "exact"],
                        columns={"response": "completion"}, engine="openai", model=vllm_server.model_path,
                        max_tokens=2, cache=False, openai=server)  # fmt: skip
    first = run_judge(judge)
    assert (first.questions, first.failed_questions, first.context_overflow_questions) == (2, 0, 1)
    table = rendered(judge_table(first))
    assert "past the context" in table and "failed" not in table, table
    df = pl.read_parquet(tmp_path / "judged" / "*.parquet").sort("source_index", "candidate_idx")
    assert df["judge_score_score"][2:].to_list() == [None, None]  # question 5's score judge was refused
    assert all(r.startswith("context_overflow: prompt too long") for r in df["judge_score_reason"][2:])
    assert df["judge_exact_score"].null_count() == 0  # its verifiers ran
    calibration = read_summary(tmp_path / "judged")
    assert (calibration["score"]["context_overflow"], calibration["exact"]["context_overflow"]) == (2, 0)
    again = run_judge(judge)  # committed: not asked again
    assert (again.rows_skipped, again.requests, again.context_overflow_questions) == (4, 0, 0)
