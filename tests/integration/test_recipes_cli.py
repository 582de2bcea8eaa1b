"""thought-variants, reasoning-token and star end to end through `harness synth` on the default model."""

from __future__ import annotations

import polars as pl
import pytest

from tests.integration.test_synth_cli import read, synth

pytestmark = pytest.mark.slow


def test_thought_variants_fan_out_and_two_steps(tmp_path):
    out = tmp_path / "tv"
    synth(
        "--task",
        "thought-variants",
        "--input",
        "sample",
        "--limit",
        "2",
        "--variants",
        "aZ7",
        "--max-thought-tokens",
        "6",
        "--max-answer-tokens",
        "8",
        "--batch-size",
        "2",
        "--output",
        str(out),
    )
    df = read(out)
    assert df.height == 6  # 2 questions x 3 variants
    assert df["variant"].to_list() == ["a", "Z", "7"] * 2
    assert df.select(pl.struct("record_id", "variant", "sample_idx").n_unique()).item() == 6
    assert all(t.startswith(v) for t, v in zip(df["thought"], df["variant"], strict=True))
    assert (df["thought_tokens"] <= 6).all()
    assert (df["completion_tokens"] <= 6 + 8).all() and (df["completion_tokens"] > df["thought_tokens"]).all()
    assert df["question"][0] == df["question"][2]


def test_reasoning_token_two_stages(tmp_path):
    out = tmp_path / "rt"
    synth(
        "--task",
        "reasoning-token",
        "--input",
        "sample",
        "--limit",
        "2",
        "--max-tokens",
        "12",
        "--max-answer-tokens",
        "8",
        "--output",
        str(out),
    )
    df = read(out)
    assert df.height == 2
    assert (df["reasoning_tokens"] <= 12).all() and df["reasoning"].str.len_chars().min() > 0
    for row in df.iter_rows(named=True):
        if row["valid"]:
            assert [m["role"] for m in row["messages"]] == ["system", "user", "reasoning", "assistant"]


def test_star_samples_and_pairs(tmp_path):
    out = tmp_path / "star"
    result = synth(
        "--task", "star", "--input", "sample", "--limit", "3", "--n", "4", "--max-tokens", "48", "--output", str(out)
    )
    df = read(out)
    assert df.height == 12 and df["sample_idx"].to_list() == [0, 1, 2, 3] * 3
    graded = df.filter(pl.col("valid"))
    assert graded["correct"].null_count() == 0
    assert df.filter(~pl.col("valid"))["correct"].null_count() == df.filter(~pl.col("valid")).height
    pairs_dir = tmp_path / "star-pairs"
    assert "pairs" in result.stderr and pairs_dir.exists()
    pairs = pl.scan_parquet(pairs_dir / "*.parquet").collect() if list(pairs_dir.glob("*.parquet")) else None
    expected = 0
    for _, group in graded.group_by("record_id"):
        good = group.filter(pl.col("correct"))["completion"].unique().len()
        bad = group.filter(~pl.col("correct"))["completion"].unique().len()
        expected += min(good, bad)
    assert (0 if pairs is None else pairs.height) == expected
    if pairs is not None:
        assert set(pairs.columns) >= {"prompt", "chosen", "rejected"}
