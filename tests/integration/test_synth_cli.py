"""`harness synth --task backfill` end to end through the real transformers engine on the default model."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import datasets
import polars as pl
import pytest

from harness.artifacts.writer import read_provenance
from tests.integration.sigkill import assert_every_shard_committed, sigkill_after_commits

pytestmark = pytest.mark.slow

HARNESS = [sys.executable, "-m", "harness.cli"]
FAST = ["--max-tokens", "24", "--batch-size", "4"]


def synth(*args: str, check: bool = True, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    result = subprocess.run([*HARNESS, "synth", *args], capture_output=True, text=True, env=env, timeout=600)
    if check:
        assert result.returncode == 0, result.stderr
    return result


def read(folder: Path) -> pl.DataFrame:
    return pl.scan_parquet(folder / "*.parquet").collect().sort("source_index", "sample_idx")


def test_backfill_end_to_end(tmp_path, default_model):
    out = tmp_path / "run"
    result = synth("--task", "backfill", "--input", "sample", "--limit", "6", "--n", "2", "--output", str(out), *FAST)
    assert result.stdout.strip() == str(out)
    assert "synth summary" in result.stderr and "tok/s" in result.stderr

    df = read(out)
    assert df.height == 12  # 6 rows x 2 samples
    assert df["source_index"].to_list() == [i for i in range(6) for _ in range(2)]
    assert df["sample_idx"].to_list() == [0, 1] * 6
    assert df["record_id"].n_unique() == 6
    assert set(df["finish_reason"]) <= {"stop", "length"}
    assert (df["completion_tokens"] <= 24).all() and (df["prompt_tokens"] > 100).all()
    for row in df.iter_rows(named=True):
        names = [v["name"] for v in row["verdicts"]]
        assert names[0] == "markers"
        assert row["valid"] == all(v["passed"] for v in row["verdicts"])
        if row["valid"]:
            roles = [m["role"] for m in row["messages"]]
            assert roles == ["system", "user", "assistant"]
            assert row["messages"][2]["content"].endswith(row["solution"])
        else:
            assert row["messages"] is None and row["rejection_reason"]

    provenance = read_provenance(sorted(out.glob("*.parquet"))[0])
    assert provenance["task"] == "backfill" and provenance["model"]["fingerprint"] == default_model.fingerprint
    assert provenance["sampling"]["n"] == 2 and provenance["sampling"]["temperature"] == 0.7
    assert provenance["engine"]["engine"] == "transformers"
    assert list(provenance["input"]["files"].values())[0]
    assert (out / ".harness" / "config.yaml").read_text().startswith("task: backfill")

    loaded = datasets.load_dataset("parquet", data_dir=str(out), split="train")
    assert loaded.num_rows == 12 and "messages" in loaded.column_names


def test_rerun_skips_finished_rows(tmp_path):
    out = tmp_path / "run"
    synth("--input", "sample", "--limit", "4", "--output", str(out), *FAST)
    first = read(out)
    again = synth("--input", "sample", "--limit", "8", "--output", str(out), *FAST)
    assert "4 rows were already done" in again.stderr
    df = read(out)
    assert df.height == 8 and df["record_id"].n_unique() == 8
    assert df.head(4)["completion"].to_list() == first["completion"].to_list()


def test_changed_settings_refuse_to_mix(tmp_path):
    out = tmp_path / "run"
    synth("--input", "sample", "--limit", "2", "--output", str(out), *FAST)
    result = synth(
        "--input", "sample", "--limit", "2", "--output", str(out), "--temperature", "0.2", *FAST, check=False
    )
    assert result.returncode == 2
    assert "other settings" in result.stderr and "sampling" in result.stderr


def test_sigkill_mid_run_then_resume_loses_and_duplicates_nothing(tmp_path):
    out = tmp_path / "run"
    args = [
        *HARNESS,
        "synth",
        "--input",
        "sample",
        "--limit",
        "20",
        "--output",
        str(out),
        "--max-tokens",
        "32",
        "--batch-size",
        "2",
        "--shard-rows",
        "2",  # a shard every 2 finished rows: the kill lands between commits
    ]
    killed_rows = sigkill_after_commits(args, out, commits=3)
    assert 6 <= killed_rows < 20

    synth("--input", "sample", "--limit", "20", "--output", str(out), "--max-tokens", "32", "--shard-rows", "2")
    df = read(out)
    assert df["source_index"].to_list() == list(range(20))  # every input row exactly once, in order
    assert df["record_id"].n_unique() == 20
    assert_every_shard_committed(out)


def test_shards_together_equal_the_single_run(tmp_path):
    common = [
        "--input",
        "sample",
        "--limit",
        "8",
        "--temperature",
        "0",
        "--max-tokens",
        "12",
        "--batch-size",
        "1",
        "--no-cache",
    ]
    synth(*common, "--output", str(tmp_path / "all"))
    synth(*common, "--shard", "0/2", "--output", str(tmp_path / "s0"))
    synth(*common, "--shard", "1/2", "--output", str(tmp_path / "s1"))
    whole = read(tmp_path / "all")
    parts = pl.concat([read(tmp_path / "s0"), read(tmp_path / "s1")]).sort("source_index")
    assert 0 < read(tmp_path / "s0").height < 8
    assert sorted((tmp_path / "s0").glob("*.parquet"))[0].name.startswith("part-s0of2-")
    columns = ["record_id", "source_index", "instruction", "completion", "valid"]
    assert parts.select(columns).equals(whole.select(columns))


def test_bad_rows_become_rejected_rows(tmp_path):
    source = tmp_path / "pairs.jsonl"
    rows = [
        {"q": "What is 1+1?", "a": "2"},
        {"q": "   ", "a": "3"},
        {"q": "What is 2+2?", "a": 4},
        {"q": "What is 3+3?"},
        {"q": "Ignore <|solution_end|> this", "a": "1"},
    ]
    source.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    out = tmp_path / "run"
    synth("--input", str(source), "--instruction-col", "q", "--solution-col", "a", "--output", str(out), *FAST)
    df = read(out)
    assert df["source_index"].to_list() == [0, 1, 2, 3, 4]
    reasons = df["rejection_reason"].to_list()
    assert reasons[1] == "input_instruction: empty"
    assert reasons[2] == "input_solution: expected text, got int"
    assert reasons[3] == "input_solution: missing from this row"
    assert reasons[4] == "input_instruction: contains the prompt marker '<|solution_end|>'"
    assert df["completion"].to_list()[1:] == [None] * 4
    assert df["completion"][0] is not None


@pytest.mark.parametrize(
    ("content", "flags", "expected"),
    [
        (None, [], "no such file or folder"),
        (
            b'{"instruction": "a", "solution": "b"}\n{"instruction": "c", "solution": "\xff"}\n',
            [],
            "line 2 is not UTF-8",
        ),
        (b'{"instruction": "a", "solution": "b"}\n{not json\n', [], "line 2 (row 1) is not valid JSON"),
        (b'{"instructoin": "a", "solution": "b"}\n', [], "did you mean 'instructoin'"),
        (
            b'{"instruction": "a", "solution": "b"}\n',
            ["--solution-col", "answer"],
            "column 'answer' (the solution) not found",
        ),
    ],
)
def test_bad_input_files_fail_before_any_model_runs(tmp_path, content, flags, expected):
    source = tmp_path / "in.jsonl"
    if content is not None:
        source.write_bytes(content)
    out = tmp_path / "run"
    result = synth("--input", str(source), "--output", str(out), *flags, check=False)
    assert result.returncode == 2
    assert expected in result.stderr and str(source) in result.stderr
    assert "Traceback" not in result.stderr
    assert not list(out.glob("*.parquet"))


def test_a_config_file_s_task_input_and_output_are_obeyed_and_saved(tmp_path, default_model):
    """Issue 18: the flags' shown defaults (backfill, sample, runs/synth) must not override the file."""
    import yaml

    questions = Path(__file__).parents[1] / "fixtures" / "star_fewshot.jsonl"
    out = tmp_path / "from-yaml"
    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump({"task": "star", "input": str(questions), "output": str(out)}))
    result = synth("--config", str(config), "--limit", "1", "--max-tokens", "1", "--n", "1")
    assert result.stdout.strip() == str(out)
    saved = yaml.safe_load((out / ".harness" / "config.yaml").read_text())
    assert (saved["task"], saved["input"], saved["output"]) == ("star", str(questions), str(out))
    assert saved["limit"] == 1 and saved["sampling"]["max_tokens"] == 1
    assert read_provenance(sorted(out.glob("*.parquet"))[0])["task"] == "star"


def test_what_the_run_is_doing_is_said_before_the_model_loads(tmp_path, default_model):
    """Issue 18: the demo was silent for 14 minutes on a busy machine before its first batch."""
    result = synth("--input", "sample", "--limit", "1", "--max-tokens", "1", "--output", str(tmp_path / "run"))
    lines = result.stderr.splitlines()
    said = [next(i for i, line in enumerate(lines) if text in line) for text in (
        "input rows; preparing model default ...",
        "[synth backfill] loading default on the transformers engine",
        "[synth backfill] default ready in",
        "[synth backfill] 1/1 rows",
    )]  # fmt: skip
    assert said == sorted(said)
