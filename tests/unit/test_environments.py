"""harness.environments with the real `verifiers` package: vf's own loader finds each environment through its
package in environments/, and its rubric scores stored completions as `harness judge` does on the same rows
(no model: the completions are written by hand, as the judge stage's tests write them)."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import polars as pl
import pytest
import verifiers as vf

from harness.artifacts.sources import open_source
from harness.config import JudgeConfig
from harness.environments import BUNDLED, load_environment
from harness.environments.rubrics import STRUCTURED_WEIGHTS
from harness.stages.judge import run_judge
from tasks.structured import StructuredTask
from tests.unit.judged_samples import backfill_artifact, star_artifact, task_row, write_task_artifact
from tests.unit.structured_samples import completion

ROOT = Path(__file__).parents[2]
TRACE = "Dividing any number by one leaves it unchanged, so the quotient is the number itself, forty-three here."
BACKFILL = {
    0: [
        f"{TRACE}\n<|thinking_end|>\n\n43",  # valid: the solution repeated unchanged
        f"{TRACE}\n<|thinking_end|>\n\n44",  # the solution rewritten
        "No end marker at all.",
        f"<|thinking_start|>\n{TRACE}\n<|thinking_end|>\n",  # the model wrote the primer itself
    ]
}


@pytest.fixture(autouse=True)
def _keep_signal_handlers():
    """A `verifiers` environment installs SIGINT/SIGTERM handlers (its teardown) when built; the other tests
    in this process keep pytest's."""
    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    yield
    for number, handler in saved.items():
        signal.signal(number, handler)


def judged(folder: Path, judges: list[str]) -> list[dict]:
    run_judge(JudgeConfig(input=str(folder), output=str(folder.with_name(folder.name + "-judged")), judges=judges))
    return pl.read_parquet(folder.with_name(folder.name + "-judged") / "*.parquet").to_dicts()


def rubric_scores(env: vf.Environment, rows: list[dict], info_of) -> list[dict[str, float]]:
    """Each stored row's completion scored by the environment's rubric, as vf-eval scores a rollout."""

    async def score(row: dict) -> dict[str, float]:
        chat = env.message_type == "chat"
        completion = [{"role": "assistant", "content": row["completion"]}] if chat else row["completion"]
        rollout = {"prompt": [] if chat else "", "answer": "", "info": info_of(row), "example_id": 0, "task": "t"}
        state = await env.init_state(rollout, client=None, model="stored")
        state["completion"] = completion
        await env.rubric.score_rollout(state)
        return {**state["metrics"], "reward": state["reward"]}

    async def all_rows() -> list[dict[str, float]]:
        return [await score(row) for row in rows]

    return asyncio.run(all_rows())


def discovered(name: str, monkeypatch, **kwargs) -> vf.Environment:
    """The environment as `vf-eval NAME` loads it: verifiers imports the module its package installs."""
    monkeypatch.syspath_prepend(str(ROOT / "environments" / name.replace("-", "_")))
    env = vf.load_environment(name, **kwargs)
    assert isinstance(env, vf.SingleTurnEnv) and env.env_id == name
    return env


def test_structured_rubric_scores_equal_the_judges_verdicts(tmp_path, monkeypatch):
    env = discovered("harness-structured", monkeypatch)
    task = StructuredTask()
    source = open_source(
        str(ROOT / "harness" / "data" / BUNDLED["structured"]), task.columns, text_columns=("question",)
    )
    planet = next(r for r in source.rows() if "planet" in r.values["question"])
    outputs = ["2", "2. Mercury", "The answer is 2", "3", "Option 2"]
    texts = [completion(output=o) for o in outputs] + [completion(after="\nstray text")]
    values = task.canonical_values(planet.values)
    rows = [task_row(task, planet.record_id, planet.index, values, i, text) for i, text in enumerate(texts)]
    write_task_artifact(tmp_path / "structured", rows, source, task)
    stored = judged(tmp_path / "structured", ["mc", "format"])
    scores = rubric_scores(env, stored, lambda r: {"question": r["question"], "choices": r["choices"], "answer": 1})
    for row, score in zip(stored, scores, strict=True):
        assert score["structured_correct"] == row["judge_mc_score"]
        verdicts = {v["name"]: float(v["passed"]) for v in row["verdicts"]}
        assert {n: score[f"structured_{n}"] for n in verdicts} == verdicts
        assert float(all(verdicts.values())) == row["judge_format_score"]
        assert score["reward"] == sum(STRUCTURED_WEIGHTS[f"structured_{n}"] * s for n, s in verdicts.items())
    assert [s["structured_correct"] for s in scores] == [1.0, 0.0, 0.0, 0.0, 1.0, 1.0]


def test_star_rubric_scores_equal_the_judges_verdicts(tmp_path, monkeypatch):
    env = discovered("harness-star", monkeypatch)
    stored = judged(star_artifact(tmp_path / "star"), ["exact", "format"])
    scores = rubric_scores(env, stored, lambda r: {"question": r["question"], "answer": r["reference"]})
    assert [s["star_correct"] for s in scores] == [r["judge_exact_score"] for r in stored] == [1, 0, 1, 0, 1, 0]
    assert [s["star_format"] for s in scores] == [r["judge_format_score"] for r in stored]
    assert [s["reward"] for s in scores] == [s["star_correct"] for s in scores]  # format is logged at weight 0


def test_backfill_rubric_scores_equal_the_judges_verdicts(tmp_path, monkeypatch):
    env = discovered("harness-backfill", monkeypatch)
    stored = judged(backfill_artifact(tmp_path / "backfill", BACKFILL), ["format"])
    scores = rubric_scores(env, stored, lambda r: {"instruction": r["instruction"], "solution": r["solution"]})
    verdicts = ("markers", "trace_nonempty", "trace_reasoning", "solution_preserved")
    valid = [float(all(s[f"backfill_{v}"] == 1.0 for v in verdicts)) for s in scores]
    # The judge re-runs the task on the completion as stored; the parser gives the task what synth's primed
    # turn would have (the primer the model wrote itself taken off), so the last row passes here, not there.
    assert valid == [1.0, 0.0, 0.0, 1.0] and [r["judge_format_score"] for r in stored] == [1.0, 0.0, 0.0, 0.0]
    assert [s["reward"] for s in scores[:3]] == [1.0, 0.75, 0.0]


def test_each_environment_holds_the_bundled_rows_as_the_task_renders_them():
    for task, rows in (("structured", 4), ("star", 16), ("backfill", 120)):
        env = load_environment(task)
        dataset = env.get_eval_dataset()
        assert len(dataset) == rows
    first = load_environment("structured", limit=1).get_eval_dataset()[0]
    assert first["prompt"][0]["content"] == StructuredTask().system_prompt and first["answer"] == "2"
    assert load_environment("star", limit=2).get_eval_dataset()[0]["prompt"].startswith("### User:\n")
    with pytest.raises(ValueError, match="no verifiers environment for task 'reasoning-token'"):
        load_environment("reasoning-token")
