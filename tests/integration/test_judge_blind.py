"""The Thought-Ranked card: "Ranking performed without access to thought chains". The rank judge's every request,
sent to the real default model, holds the question and the answers, and no thought. (The closed-prefix reading:
its thoughts are the model's own text, the likelier to leak; the open reading's artifact has the same columns.)"""

from __future__ import annotations

import re
from pathlib import Path

import polars as pl
import pytest

from harness.config import JudgeConfig, SynthConfig
from harness.engines.transformers_engine import TransformersEngine
from harness.stages.judge import run_judge
from harness.stages.synth import run_synth

pytestmark = pytest.mark.slow

QUESTIONS = Path(__file__).parents[1] / "fixtures" / "thought_variants_questions.jsonl"
FENCE = re.compile(r"<answer_(?P<nonce>[0-9a-f]+)>\n(?P<text>.*?)\n</answer_(?P=nonce)>", re.DOTALL)


def test_the_rank_judge_never_sees_a_thought(tmp_path, default_model, monkeypatch):
    variants = tmp_path / "variants"
    options = {"variants": "abc", "max_thought_tokens": 16, "max_answer_tokens": 24, "prefix": "closed"}
    run_synth(SynthConfig(task="thought-variants", input=str(QUESTIONS), output=str(variants), task_options=options))
    rows = pl.read_parquet(variants / "*.parquet").to_dicts()
    # The few-shot question gets answers to rank on this model (the first question often gets empty ones).
    assert len(rows) == 6 and sum(bool(r["answer"]) for r in rows if r["source_index"] == 1) >= 2

    sent: list[str] = []
    generate = TransformersEngine.generate

    def recording(self, requests, params):  # the real engine answers; we keep what it was asked
        sent.extend("\n".join(m["content"] for m in r.messages) if r.messages else r.prompt for r in requests)
        return generate(self, requests, params)

    monkeypatch.setattr(TransformersEngine, "generate", recording)
    judged = tmp_path / "judged"
    run_judge(JudgeConfig(input=str(variants), output=str(judged), judges=["rank"], max_tokens=8, cache=False))

    assert sent, "the judge asked nothing"
    answers = {r["answer"] for r in rows}
    questions = {r["question"] for r in rows}  # (the second one shows a <thought> example of its own)
    known = "\n".join([*answers, *questions])
    for request in sent:
        fenced = [m["text"] for m in FENCE.finditer(request)]
        assert set(fenced) <= answers | questions and set(fenced) & answers  # whole answers, and the question
        outside = FENCE.sub("", request)
        assert "<thought>" not in outside and "</thought>" not in outside
        for row in rows:  # no thought anywhere (unless the model wrote the same text into an answer too)
            thought = row["thought"].strip()
            if thought and thought not in known:
                assert thought not in request
