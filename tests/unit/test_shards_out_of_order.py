"""The streaming loop commits records in the order they finish, so shards are not in input order. Every
reader (judge, select, synth's pairs, reports) must give the same result as on an artifact in input order."""

from __future__ import annotations

import polars as pl
import pyarrow.parquet as pq

from harness.artifacts.reader import open_artifact
from harness.artifacts.sources import open_source
from harness.config import JudgeConfig, SelectConfig
from harness.stages.judge import run_judge
from harness.stages.select import run_select
from harness.stages.synth import bundled_sample, write_pairs
from tasks.star import StarTask
from tests.unit.judged_samples import SAMPLES, star_row, write_star_artifact

# More questions than judged_samples' two, so the shards can be shuffled.
QUESTIONS = {**SAMPLES, 2: SAMPLES[0][:2], 7: SAMPLES[5][::-1], 9: SAMPLES[0][1:]}


def star_rows(order: list[int]) -> list[dict]:
    source = {row.index: row for row in open_source(str(bundled_sample()), {}).rows() if row.index in QUESTIONS}
    return [
        star_row(source[i].record_id, i, source[i].values, k, text)
        for i in order
        for k, text in enumerate(QUESTIONS[i])
    ]


def build(folder, order: list[int]):
    """The star artifact of QUESTIONS, one shard per question (a record is never split), in `order`."""
    source = open_source(str(bundled_sample()), {})
    first, *rest = [star_rows([i]) for i in order]
    write_star_artifact(folder, first, source)
    for rows in rest:  # resumes the folder: one more shard each
        write_star_artifact(folder, rows, source)
    return folder


def sorted_frame(folder) -> pl.DataFrame:
    return pl.read_parquet(folder / "*.parquet").sort("source_index", "sample_idx")


def test_judge_select_pairs_and_reports_do_not_depend_on_shard_order(tmp_path):
    in_order = build(tmp_path / "in-order", sorted(QUESTIONS))
    shuffled = build(tmp_path / "shuffled", [9, 5, 0, 7, 2])
    first_rows = pq.read_table(sorted(shuffled.glob("*.parquet"))[0]).column("source_index").to_pylist()
    assert first_rows[0] == 9  # the first shard starts with the last question

    results = {}
    for name, folder in (("in-order", in_order), ("shuffled", shuffled)):
        judged = tmp_path / f"{name}-judged"
        summary = run_judge(JudgeConfig(input=str(folder), output=str(judged), judges=["exact"]))
        assert summary.questions == len(QUESTIONS) and summary.rows == sum(map(len, QUESTIONS.values()))
        pairs = tmp_path / f"{name}-pairs"
        run_select(SelectConfig(mode="pairs", input=str(judged), output=str(pairs), judge="exact"))
        star_pairs = tmp_path / f"{name}-star-pairs"
        write_pairs(StarTask(), sorted(folder.glob("*.parquet")), star_pairs, {"task": "star"})
        artifact = open_artifact(judged)
        results[name] = (
            sorted_frame(judged).drop("candidate_idx"),
            pl.read_parquet(pairs / "*.parquet").sort(pl.all()),
            pl.read_parquet(star_pairs / "*.parquet").sort(pl.all()),
            artifact.rows,
        )
    names = ("judged", "pairs", "star pairs", "rows")
    for what, ours, theirs in zip(names, results["shuffled"], results["in-order"], strict=True):
        assert ours.equals(theirs) if isinstance(ours, pl.DataFrame) else ours == theirs, (what, ours, theirs)
    assert results["shuffled"][1].height > 0 and results["shuffled"][2].height > 0
