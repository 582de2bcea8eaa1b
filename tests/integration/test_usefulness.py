"""Trace usefulness on the default model, where the answer is known; and prompt scoring against a plain forward."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from harness.artifacts.schemas import MESSAGES
from harness.artifacts.writer import ArtifactWriter, base_provenance
from harness.config import JudgeConfig
from harness.engines.scoring import ScoreRequest
from harness.stages.judge import run_judge
from harness.stages.usefulness import copied_share
from tests.integration.borrowed_engine import lend_engine

QUESTION = "What is 17 + 25?"
SOLUTION = "The answer is 42."
TRACES = {
    "reasoning": "17 + 25: first 17 + 20 = 37, then 37 + 5 = 42.",
    "unrelated": "Bananas are yellow fruits that grow in tropical climates and are rich in potassium.",
    "restatement": "The answer is 42.",
}
SCHEMA = pa.schema(
    [
        pa.field("record_id", pa.string(), nullable=False),
        pa.field("source_index", pa.int64(), nullable=False),
        pa.field("sample_idx", pa.int32(), nullable=False),
        pa.field("instruction", pa.string()),
        pa.field("trace", pa.string()),
        pa.field("solution", pa.string()),
        pa.field("messages", MESSAGES),  # as backfill's: what best-of-n selects
    ]
)


def test_score_prompts_match_one_plain_forward_each(engine):
    import torch

    requests = [
        ScoreRequest("Question: 2 + 2?\n\n", "The answer is 4."),
        ScoreRequest("A much longer context, so that the batch is padded on the left.\n\n", "Yes."),
        ScoreRequest(f"{QUESTION}\n\n", SOLUTION),
    ]
    batched = engine.score_prompts(requests, batch=3)
    for request, scored in zip(requests, batched, strict=True):
        ids = engine.tokenizer(request.context + request.continuation)["input_ids"]
        context = len(engine.tokenizer(request.context.rstrip())["input_ids"])  # the blank line: two "\n" tokens
        assert len(ids) - context - 2 == scored.tokens
        with torch.inference_mode():
            logits = engine.model(input_ids=torch.tensor([ids])).logits[0].float()
        logp = torch.log_softmax(logits[:-1], -1).gather(-1, torch.tensor(ids[1:])[:, None])[:, 0]
        expected = logp[len(ids) - 1 - scored.tokens :].tolist()
        assert scored.logprobs == pytest.approx(expected, abs=2e-3)


def test_copied_share():
    assert copied_share("so, the answer is: 42!", SOLUTION) == 1.0
    assert copied_share(TRACES["reasoning"], SOLUTION) == 0.0
    long = "one two three four five six seven eight nine ten"
    assert copied_share("x one two three four five six seven eight y", long) == pytest.approx(0.8)


@pytest.mark.slow
def test_a_reasoning_trace_is_more_useful_than_an_unrelated_one_or_a_restatement(tmp_path, engine, monkeypatch):
    asked = lend_engine(monkeypatch, engine, "transformers")  # the session's default-model engine
    names = list(TRACES)
    rows = {
        "record_id": ["q0"] * len(names),
        "source_index": [0] * len(names),
        "sample_idx": list(range(len(names))),
        "instruction": [QUESTION] * len(names),
        "trace": [TRACES[n] for n in names],
        "solution": [SOLUTION] * len(names),
        "messages": [
            [{"role": "user", "content": QUESTION}, {"role": "assistant", "content": f"{TRACES[n]}\n\n{SOLUTION}"}]
            for n in names
        ],
    }
    with ArtifactWriter(tmp_path / "in", SCHEMA, {"test": "usefulness"}).open({}) as writer:
        writer.commit(pa.table(rows, schema=SCHEMA), base_provenance())
    cfg = JudgeConfig(input=str(tmp_path / "in"), output=str(tmp_path / "out"), judges=["usefulness"], threads=1)
    summary = run_judge(cfg)
    assert summary.rows == 3 and summary.requests == 4  # three traces, and the question without one, once
    assert asked == ["transformers"]
    judged = {
        names[r["sample_idx"]]: r for r in pq.read_table(sorted((tmp_path / "out").glob("*.parquet"))).to_pylist()
    }
    score = {n: judged[n]["judge_usefulness_score"] for n in names}
    assert score["reasoning"] > score["unrelated"]
    assert score["restatement"] <= 0 < score["reasoning"]  # copying earns no credit: at best 0
    assert judged["restatement"]["judge_usefulness_copied"] == 1.0
    assert (
        judged["reasoning"]["judge_usefulness_solution_tokens"]
        == judged["unrelated"]["judge_usefulness_solution_tokens"]
    )
    assert "delta" in judged["reasoning"]["judge_usefulness_reason"]
    assert summary.judges["usefulness"]["scored"] == 3
    # select keeps the most useful trace; the report shows the distribution
    from harness.config import ReportConfig, SelectConfig
    from harness.stages.report import run_report
    from harness.stages.select import run_select

    best = SelectConfig(mode="best-of-n", input=cfg.output, output=str(tmp_path / "best"), judge="usefulness")
    run_select(best)
    [picked] = pq.read_table(sorted((tmp_path / "best").glob("*.parquet"))).to_pylist()
    assert picked["parent_sample_idx"] == names.index("reasoning")
    markdown = (
        Path(run_report(ReportConfig(dirs=[cfg.output], output=str(tmp_path / "report"))).output) / "report.md"
    ).read_text()
    assert "## Usefulness and contamination" in markdown and "usefulness scores" in markdown


def test_every_engine_scores_prompts_as_transformers_does(any_engine, engine):
    """vLLM's prompt_logprobs and a vLLM server's echo + logprobs give the transformers forward's scores."""
    requests = [
        ScoreRequest(f"{QUESTION}\n\n{TRACES['reasoning']}\n\n", SOLUTION),
        ScoreRequest(f"{QUESTION}\n\n", SOLUTION),
    ]
    expected = engine.score_prompts(requests)
    for got, want in zip(any_engine.score_prompts(requests), expected, strict=True):
        assert got.tokens == want.tokens
        assert got.mean == pytest.approx(want.mean, abs=0.05)
