"""`harness judge` and `harness select` read what synth reads (JSONL, CSV, Parquet, a folder of them, a saved
dataset, a hub id): a user's own rows, grouped into questions by `--col group=COLUMN`, with clear errors naming
the column that is missing and the flag that maps it."""

from __future__ import annotations

import json

import polars as pl
import pytest
from typer.testing import CliRunner

from harness.artifacts.sources import InputError
from harness.cli import app
from harness.config import ConfigError, JudgeConfig, SelectConfig
from harness.stages.judge import run_judge
from harness.stages.select import run_select
from tests.unit.input_kinds import every_input_kind

ROWS = [  # two questions, two answers each: the first right, the second wrong
    {"question": "What is 2 + 2?", "completion": "4", "gold": "4"},
    {"question": "What is 2 + 2?", "completion": "5", "gold": "4"},
    {"question": "What is 3 + 3?", "completion": "6", "gold": "6"},
    {"question": "What is 3 + 3?", "completion": "7", "gold": "6"},
]
GROUPED = {"gold": "gold", "group": "question"}


def _inputs(tmp_path) -> dict[str, str]:
    csv = "question,completion,gold\n" + "".join(f"{r['question']},{r['completion']},{r['gold']}\n" for r in ROWS)
    return {kind: str(path) for kind, path in every_input_kind(tmp_path, ROWS, csv).items()}


def test_judge_reads_every_input_kind_and_select_takes_its_output(tmp_path):
    inputs = _inputs(tmp_path)
    for kind, path in inputs.items():
        out = tmp_path / f"judged-{kind}"
        summary = run_judge(JudgeConfig(input=path, output=str(out), judges=["exact"], columns=GROUPED))
        df = pl.read_parquet(out / "*.parquet")
        assert (summary.rows, summary.questions) == (4, 2), kind
        assert df["judge_exact_score"].to_list() == [1.0, 0.0, 1.0, 0.0], kind
        assert df["candidate_idx"].to_list() == [0, 1, 0, 1] and df["source_index"].to_list() == [0, 1, 2, 3], kind
        assert df["record_id"].n_unique() == 2 and df["question"].to_list() == [r["question"] for r in ROWS], kind
        again = run_judge(JudgeConfig(input=path, output=str(out), judges=["exact"], columns=GROUPED))
        assert (again.rows, again.rows_skipped) == (0, 4), kind  # resumed: nothing left
    summary = run_select(SelectConfig(mode="pairs", input=str(tmp_path / "judged-jsonl"), output=str(tmp_path / "p")))
    pairs = pl.read_parquet(tmp_path / "p" / "*.parquet")
    assert summary.rows == 2 and pairs["prompt"].to_list() == ["What is 2 + 2?", "What is 3 + 3?"]
    assert pairs["chosen"].to_list() == ["4", "6"] and pairs["rejected"].to_list() == ["5", "7"]
    # each row alone when nothing groups them; a changed file is another input, not a resume
    alone = run_judge(JudgeConfig(input=inputs["jsonl"], output=str(tmp_path / "a"), judges=["exact"],
                                  columns={"gold": "gold"}))  # fmt: skip
    assert alone.questions == 4
    (tmp_path / "rows.jsonl").write_text(json.dumps(ROWS[0]) + "\n")
    with pytest.raises(Exception, match="other"):
        run_judge(JudgeConfig(input=str(tmp_path / "rows.jsonl"), output=str(tmp_path / "a"), judges=["exact"],
                              columns={"gold": "gold"}))  # fmt: skip


def test_select_reads_a_users_own_scores(tmp_path):
    scored = tmp_path / "scored.jsonl"
    rows = [{**r, "judge_mine_score": 1.0 - i % 2} for i, r in enumerate(ROWS)]
    scored.write_text("".join(json.dumps(r) + "\n" for r in rows))
    cols = {"group": "question", "response": "completion"}
    best = run_select(SelectConfig(mode="best-of-n", input=str(scored), output=str(tmp_path / "b"), columns=cols))
    df = pl.read_parquet(tmp_path / "b" / "*.parquet")
    assert best.rows == 2 and df["score"].to_list() == [1.0, 1.0]
    assert df["messages"].to_list()[0] == [
        {"role": "user", "content": "What is 2 + 2?"},
        {"role": "assistant", "content": "4"},
    ]


def test_a_missing_column_names_the_flag_that_maps_it(tmp_path):
    path = _inputs(tmp_path)["jsonl"]
    with pytest.raises(ConfigError, match=r"no column for the gold .* --col gold=COLUMN"):
        run_judge(JudgeConfig(input=path, output=str(tmp_path / "o"), judges=["exact"]))
    with pytest.raises(InputError, match=r"--col group=nosuch: .* has no column 'nosuch'"):
        run_judge(JudgeConfig(input=path, output=str(tmp_path / "o"), judges=["exact"], columns={"group": "nosuch"}))
    with pytest.raises(ConfigError, match=r"no judge_<NAME>_score column to select by"):
        run_select(SelectConfig(mode="pairs", input=path, output=str(tmp_path / "o")))
    bare = tmp_path / "bare.jsonl"
    bare.write_text(json.dumps({"text": "4", "judge_x_score": 1.0}) + "\n")
    result = CliRunner().invoke(app, ["select", "pairs", "--input", str(bare), "--output", str(tmp_path / "o")])
    assert result.exit_code == 2 and "no column for the prompt" in result.output, result.output
    assert "--col prompt=COLUMN" in result.output, result.output
    named_answer = tmp_path / "answer.jsonl"  # the gold in a column named like the prediction's first default
    named_answer.write_text(
        "".join(json.dumps({"completion": r["completion"], "answer": r["gold"]}) + "\n" for r in ROWS)
    )
    with pytest.raises(ConfigError, match=r"prediction and the gold would both be read from column 'answer'"):
        run_judge(JudgeConfig(input=str(named_answer), output=str(tmp_path / "n"), judges=["exact"],
                              columns={"gold": "answer"}))  # fmt: skip
    fixed = {"gold": "answer", "prediction": "completion"}  # what the refusal says to add
    summary = run_judge(
        JudgeConfig(input=str(named_answer), output=str(tmp_path / "n"), judges=["exact"], columns=fixed)
    )
    assert summary.rows == 4 and pl.read_parquet(tmp_path / "n" / "*.parquet")["judge_exact_score"].sum() == 2
    shuffled = tmp_path / "shuffled.jsonl"
    shuffled.write_text("".join(json.dumps(ROWS[i]) + "\n" for i in (0, 2, 1, 3)))
    with pytest.raises(InputError, match=r"row 2: .* not next to each other.*sort the input by question"):
        run_judge(JudgeConfig(input=str(shuffled), output=str(tmp_path / "s"), judges=["exact"], columns=GROUPED))


def test_a_hub_id_is_read_up_to_the_network(tmp_path, monkeypatch):
    """Offline, a hub id fails as synth's does: an InputError from the hub call, before any row is judged."""
    import datasets.config
    import huggingface_hub.constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "hf-datasets")
    hub = "harness-test-org/no-such-dataset"
    with pytest.raises(InputError, match=f"^{hub}: cannot load this hub dataset"):
        run_judge(JudgeConfig(input=hub, output=str(tmp_path / "o"), judges=["exact"]))
    with pytest.raises(InputError, match=f"^{hub}: cannot load this hub dataset"):
        run_select(SelectConfig(mode="pairs", input=hub, output=str(tmp_path / "o")))
