"""`harness select pairs --conversational`: TRL's conversational preference rows from a chat task's judged rows."""

from __future__ import annotations

import re
import shlex

import polars as pl
import pytest
from typer.testing import CliRunner

from harness.cli import app
from harness.config import ConfigError, JudgeConfig, SelectConfig
from harness.stages.judge import run_judge
from harness.stages.select import run_select
from tasks.backfill import BackfillTask
from tests.unit.judged_samples import backfill_artifact, star_artifact

END = "\n<|thinking_end|>\n"
# Per question: a trace that reaches the solution, one that does not, the first again, one with no end marker.
TRACES = {
    0: [f"43 / 1: result: 43{END}", f"A guess, result: 42{END}", f"43 / 1: result: 43{END}", "never ends"],
    5: [f"-3 + 63, result: 60{END}", f"Hmm, result: 66{END}"],
}
PAIRED = ["record_id", "source_index", "pair_idx", "question", "reference", "parent_id", "judge", "chosen_score"]


@pytest.fixture
def judged_chat(tmp_path):
    """A backfill artifact judged by the regex verifier: a trace whose `result:` is the solution scores 1."""
    backfill_artifact(tmp_path / "backfill", TRACES)
    cfg = JudgeConfig(
        input=str(tmp_path / "backfill"), output=str(tmp_path / "judged"), judges=["regex"], regex=r"result: (\S+)"
    )
    run_judge(cfg)
    return tmp_path / "judged"


def pairs(judged, name: str, **settings) -> pl.DataFrame:
    out = judged.parent / name
    run_select(SelectConfig(mode="pairs", input=str(judged), output=str(out), **settings))
    return pl.read_parquet(out / "*.parquet")


def test_conversational_pairs_are_the_plain_pairs_as_messages(judged_chat):
    plain = pairs(judged_chat, "plain")
    chat = pairs(judged_chat, "chat", conversational=True)
    assert chat.height == plain.height == 2  # one pair per question; the repeat and the unfinished one left out
    assert chat.select(PAIRED).equals(plain.select(PAIRED))
    judged = pl.read_parquet(judged_chat / "*.parquet")
    for conv, flat in zip(chat.iter_rows(named=True), plain.iter_rows(named=True), strict=True):
        good = judged.filter(
            (pl.col("record_id") == conv["record_id"]) & (pl.col("candidate_idx") == conv["chosen_candidate_idx"])
        ).row(0, named=True)
        # The prompt is the chat backfill sent (its system and user turns), not the last user turn's text.
        request = BackfillTask().render({"instruction": good["instruction"], "solution": good["solution"]})
        assert conv["prompt"] == [dict(m) for m in request.messages] == good["messages"][:-1]
        assert conv["prompt"][-1]["content"] == flat["prompt"]
        # chosen/rejected: one assistant message each, the whole turn (trace + solution), as the plain pairs.
        assert conv["chosen"] == [{"role": "assistant", "content": flat["chosen"]}] == good["messages"][-1:]
        assert conv["rejected"] == [{"role": "assistant", "content": flat["rejected"]}]
        assert "result: 4" in flat["chosen"] or "result: 60" in flat["chosen"]


def test_trl_reads_the_rows_as_conversational(judged_chat):
    import datasets
    from trl.data_utils import is_conversational

    chat = pairs(judged_chat, "chat", conversational=True)
    plain = pairs(judged_chat, "plain")
    loaded = datasets.load_dataset("parquet", data_dir=str(judged_chat.parent / "chat"), split="train")
    assert loaded.num_rows == chat.height == plain.height == 2
    assert all(is_conversational(row) for row in loaded)
    flat = datasets.load_dataset("parquet", data_dir=str(judged_chat.parent / "plain"), split="train")
    assert not any(is_conversational(row) for row in flat)


def test_a_raw_prompt_task_cannot_give_conversational_pairs(tmp_path):
    star_artifact(tmp_path / "star")
    run_judge(JudgeConfig(input=str(tmp_path / "star"), output=str(tmp_path / "judged"), judges=["exact"]))
    with pytest.raises(ConfigError, match="raw prompt, not chat messages"):
        pairs(tmp_path / "judged", "chat", conversational=True)
    assert not (tmp_path / "chat").exists()  # refused before any work
    result = CliRunner().invoke(
        app, ["select", "pairs", "-i", str(tmp_path / "judged"), "-o", str(tmp_path / "c"), "--conversational"]
    )
    assert result.exit_code == 2 and "task 'star'" in result.output


def test_conversational_is_for_pairs_only(judged_chat):
    out = judged_chat.parent / "best"
    with pytest.raises(ConfigError, match="applies to pairs") as refused:
        run_select(SelectConfig(mode="best-of-n", input=str(judged_chat), output=str(out), conversational=True))
    advised = shlex.split(re.search(r"`([^`]+)`", str(refused.value)).group(1))  # run as printed
    assert advised[:3] == ["harness", "select", "pairs"], advised
    done = CliRunner().invoke(app, advised[1:])
    assert done.exit_code == 0, done.output


def test_train_data_takes_them_for_dpo_and_refuses_them_for_rank(judged_chat):
    from harness.artifacts.sources import InputError
    from harness.config import TrainConfig
    from harness.stages.train_rows import training_rows

    chat = pairs(judged_chat, "chat", conversational=True)
    folder = str(judged_chat.parent / "chat")
    rows = training_rows(TrainConfig(method="dpo", input=folder, output="unused")).dataset.to_list()
    assert [r["chosen"] for r in rows] == chat["chosen"].to_list()
    assert rows[0]["prompt"][0]["role"] == "system"
    with pytest.raises(InputError, match=r"row 0, column 'prompt': expected non-empty text"):
        training_rows(TrainConfig(method="rank", input=folder, output="unused"))
