"""`harness judge` with verifiers only (no model): columns, source lookup, summary, resume, clear errors."""

from __future__ import annotations

import polars as pl
import pytest
from typer.testing import CliRunner

from harness.artifacts.sources import InputError
from harness.artifacts.writer import read_provenance
from harness.cli import app
from harness.config import ConfigError, JudgeConfig
from harness.stages import judge_columns
from harness.stages.judge import run_judge
from tests.unit.judged_samples import backfill_artifact, read_summary, star_artifact

VERIFIERS = ["exact", "math", "reasoning-gym", "format"]


def judge(tmp_path, judges=VERIFIERS, **settings):
    star = tmp_path / "star"
    if not star.exists():
        star_artifact(star)
    settings = {"output": str(tmp_path / "judged"), **settings}
    cfg = JudgeConfig(input=str(star), judges=judges, **settings)
    return run_judge(cfg)


def test_verifiers_add_a_score_and_a_reason_per_judge(tmp_path):
    summary = judge(tmp_path)
    df = pl.read_parquet(tmp_path / "judged" / "*.parquet")
    assert df.height == 6 and summary.rows == 6 and summary.questions == 2
    assert df["candidate_idx"].to_list() == [0, 1, 2, 3, 0, 1]
    assert df["judge_exact_score"].to_list() == [1.0, 0.0, 1.0, 0.0, 1.0, 0.0]
    assert df["judge_math_score"].to_list() == [1.0, 0.0, 1.0, 0.0, 1.0, 0.0]
    # reasoning-gym rebuilt each entry from the synth input's generator/seed/index/config (not in the artifact).
    assert df["judge_reasoning_gym_score"].to_list()[:3] == [1.0, 0.0, 1.0]
    assert df["judge_format_score"].to_list() == [1.0, 1.0, 1.0, 0.0, 1.0, 1.0]
    assert df["judge_format_reason"][3] == "format: no ### Answer: section (the model stopped)"
    assert df["judge_exact_reason"][1] == "'42' != '43'"
    assert df["judge_math_reason"][3] == "no math answer found"  # the broken sample has no answer
    # The input's columns are all kept.
    assert {"record_id", "parent_id", "question", "reference", "completion", "verdicts"} <= set(df.columns)


def test_calibration_summary_follows_the_contract(tmp_path):
    judge(tmp_path)
    summary = read_summary(tmp_path / "judged")
    assert set(summary) == {"exact", "math", "reasoning_gym", "format"}
    exact = summary["exact"]
    assert exact == {
        "kind": "verifier",
        "rows": 6,
        "scored": 6,
        "unparsable": 1,  # the broken sample has no answer to compare
        "ties": None,
        "position_swap_agreement": None,
        "score_histogram": {"0": 3, "1": 3},
        "requests": 0,
        "context_overflow": 0,  # LLM judges: rows whose request did not fit the model's context
    }


def test_a_rerun_resumes_and_the_summary_covers_the_whole_artifact(tmp_path):
    first = judge(tmp_path, limit=1)
    assert first.rows == 4
    second = judge(tmp_path, limit=None)
    assert second.rows == 2 and second.rows_skipped == 4
    df = pl.read_parquet(tmp_path / "judged" / "*.parquet")
    assert df.height == 6 and df.select("record_id", "candidate_idx").n_unique() == 6
    assert read_summary(tmp_path / "judged")["exact"]["rows"] == 6
    third = judge(tmp_path, limit=None)
    assert third.rows == 0 and third.rows_skipped == 6
    shards = sorted((tmp_path / "judged").glob("*.parquet"))
    assert len(shards) == 2 and "judge_tally" in read_provenance(shards[0])


def test_columns_can_be_named_and_read_from_the_source(tmp_path):
    judge(tmp_path, judges=["exact"], columns={"prediction": "answer", "gold": "source:solution"})
    df = pl.read_parquet(tmp_path / "judged" / "*.parquet")
    assert df["judge_exact_score"].to_list() == [1.0, 0.0, 1.0, 0.0, 1.0, 0.0]


def test_source_columns_past_the_spill_bound_judge_the_same(tmp_path, monkeypatch):
    """The source's columns (reasoning-gym's generator/seed/index/config, a `source:` gold) are kept on disk past
    the bound: with every row spilled the judged rows are the same."""
    judge(tmp_path, output=str(tmp_path / "kept"))
    monkeypatch.setattr(judge_columns, "SPILL_BOUND", 1)
    judge(tmp_path, output=str(tmp_path / "spilled"))
    judge(tmp_path, judges=["exact"], columns={"prediction": "answer", "gold": "source:solution"})
    kept, spilled = (pl.read_parquet(tmp_path / name / "*.parquet") for name in ("kept", "spilled"))
    assert spilled.equals(kept) and spilled["judge_reasoning_gym_score"].to_list()[:3] == [1.0, 0.0, 1.0]
    df = pl.read_parquet(tmp_path / "judged" / "*.parquet")
    assert df["judge_exact_score"].to_list() == [1.0, 0.0, 1.0, 0.0, 1.0, 0.0]
    assert "_source_values" not in df.columns


def test_regex_judge_uses_the_pattern(tmp_path):
    judge(tmp_path, judges=["regex"], regex=r"### Answer: (\d+)", columns={"prediction": "completion"})
    df = pl.read_parquet(tmp_path / "judged" / "*.parquet")
    assert df["judge_regex_score"].to_list() == [1.0, 0.0, 1.0, 0.0, 1.0, 0.0]


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"judges": ["nope"]}, "unknown judge"),
        ({"judges": []}, "name at least one judge"),
        ({"judges": ["exact", "exact"]}, "twice"),
        ({"judges": ["regex"]}, "needs --regex"),
        ({"judges": ["exact"], "columns": {"gold": "nowhere"}}, "no such column"),
        ({"judges": ["exact"], "columns": {"flavour": "x"}}, "read no column"),
        ({"judges": ["mc"], "columns": {"gold": "source:nothing"}}, "has no column 'nothing'"),
        ({"judges": ["score"], "engine": "nope"}, "unknown engine"),
        ({"judges": ["rank"], "rank_chunk": 1}, "rank_chunk"),
    ],
)
def test_bad_settings_fail_before_any_work(tmp_path, settings, message):
    star_artifact(tmp_path / "star")
    with pytest.raises((ConfigError, ValueError), match=message):
        run_judge(JudgeConfig(input=str(tmp_path / "star"), output=str(tmp_path / "out"), **settings))
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").glob("*.parquet"))


def test_judging_twice_with_the_same_judge_is_refused(tmp_path):
    judge(tmp_path, judges=["exact"])
    cfg = JudgeConfig(input=str(tmp_path / "judged"), output=str(tmp_path / "again"), judges=["exact"])
    with pytest.raises(ConfigError, match="judged by 'exact' before"):
        run_judge(cfg)
    # Another judge on a judged artifact is fine, and finds the same source.
    cfg = JudgeConfig(input=str(tmp_path / "judged"), output=str(tmp_path / "again"), judges=["reasoning-gym"])
    run_judge(cfg)
    df = pl.read_parquet(tmp_path / "again" / "*.parquet")
    assert {"judge_exact_score", "judge_reasoning_gym_score"} <= set(df.columns)


def test_inputs_that_are_not_artifacts_are_input_errors(tmp_path):
    with pytest.raises(InputError, match="missing: no such file or folder"):
        run_judge(JudgeConfig(input=str(tmp_path / "missing"), output=str(tmp_path / "o"), judges=["exact"]))
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="folder has no"):
        run_judge(JudgeConfig(input=str(tmp_path / "empty"), output=str(tmp_path / "o"), judges=["exact"]))


def test_cli_errors_are_one_line_and_exit_2(tmp_path):
    result = CliRunner().invoke(
        app, ["judge", "--input", str(tmp_path / "missing"), "--output", str(tmp_path / "o"), "--judge", "exact"]
    )
    assert result.exit_code == 2
    assert "error:" in result.output and "no such file or folder" in result.output
    assert "Traceback" not in result.output


def test_a_missing_verifier_library_is_named_before_any_work(tmp_path, monkeypatch):
    import importlib.util

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None if name == "math_verify" else find_spec(name))
    star_artifact(tmp_path / "star")
    with pytest.raises(ConfigError, match=r"needs math-verify: pip install 'reasoning-harness\[judge\]'"):
        run_judge(JudgeConfig(input=str(tmp_path / "star"), output=str(tmp_path / "o"), judges=["math"]))


def test_a_moved_source_matters_only_when_a_column_must_come_from_it(tmp_path):
    star_artifact(tmp_path / "star")
    gone = tmp_path / "gone.jsonl"
    # exact reads only artifact columns: no source needed.
    run_judge(JudgeConfig(input=str(tmp_path / "star"), output=str(tmp_path / "a"), judges=["exact"], source=str(gone)))
    with pytest.raises(ConfigError, match="no column for the generator .*cannot be read"):
        cfg = JudgeConfig(input=str(tmp_path / "star"), output=str(tmp_path / "b"), judges=["reasoning-gym"])
        run_judge(cfg.model_copy(update={"source": str(gone)}))


@pytest.mark.parametrize("name", ["mc", "exact", "math"])
def test_a_judge_that_does_not_fit_the_artifact_s_task_is_refused_before_any_work(tmp_path, name):
    backfill_artifact(tmp_path / "backfill", {0: ["Think.<|thinking_end|>"], 5: ["Hmm.<|thinking_end|>"]})
    out = tmp_path / "judged"
    result = CliRunner().invoke(app, ["judge", "-i", str(tmp_path / "backfill"), "-o", str(out), "--judge", name])
    assert result.exit_code == 2
    assert f"holds backfill rows, which the {name} judge cannot check" in result.output
    assert not out.exists()


def test_mapped_columns_vouch_for_a_judge_on_another_task(tmp_path):
    backfill_artifact(tmp_path / "backfill", {0: ["Think.<|thinking_end|>"]})
    columns = {"prediction": "solution", "gold": "source:solution"}
    cfg = JudgeConfig(input=str(tmp_path / "backfill"), output=str(tmp_path / "j"), judges=["exact"], columns=columns)
    assert run_judge(cfg).rows == 1
