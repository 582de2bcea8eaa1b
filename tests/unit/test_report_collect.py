"""Reading artifacts for reports: folder checks, runs from provenance, and the streaming counts (no model)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pyarrow as pa
import pytest

from harness.artifacts.reader import open_artifact
from harness.artifacts.schemas import Verdict, to_table, traces_schema, verdict_fields
from harness.artifacts.writer import ArtifactError, ArtifactWriter
from reports.collect import collect
from reports.document import Document, Image, Section, Table, to_html, to_markdown
from reports.sections import Input, build_sections
from tasks import get_task

JUDGE = [pa.field("judge_score_score", pa.float64()), pa.field("judge_score_reason", pa.string())]


def _row(i: int, trace: str | None, passed: list[bool], tokens: int | None, score: float | None) -> dict:
    names = ["markers", "trace_nonempty", "solution_preserved"][: len(passed)]
    verdicts = [Verdict(n, p, "ok" if p else "broken") for n, p in zip(names, passed, strict=True)]
    return {
        "record_id": f"r{i}",
        "parent_id": None,
        "source_index": i,
        "sample_idx": 0,
        "task": "backfill",
        "task_version": "1",
        "template_hash": "t",
        "instruction": "q",
        "solution": "the answer",
        "trace": trace,
        "messages": None,
        "completion": "c",
        "finish_reason": "stop",
        "prompt_tokens": 10,
        "completion_tokens": tokens,
        **verdict_fields(verdicts),
        "judge_score_score": score,
        "judge_score_reason": "r",
    }


ROWS = [
    _row(0, "one two three", [True, True, True], 5, 1.0),
    _row(1, None, [False], 7, None),
    _row(2, "one", [True, True, False], 5, 0.5),
    _row(3, "a b c", [True, True, True], None, 1.0),
]


def write(folder: Path, shards: list[list[dict]], started: list[str] | None = None) -> Path:
    schema = pa.schema([*traces_schema(get_task("backfill").fields), *JUDGE])
    with ArtifactWriter(folder, schema, {"task": "backfill"}).open({}) as writer:
        for n, rows in enumerate(shards):
            start = (started or ["2026-01-01T00:00:00+00:00"] * len(shards))[n]
            writer.commit(to_table(rows, schema), {"task": "backfill", "started_at": start, "model": {"path": "/nowhere"}})  # fmt: skip
    return folder


def test_counts_over_shards_and_batches(tmp_path):
    artifact = open_artifact(write(tmp_path / "a", [ROWS[:3], ROWS[3:]]))
    assert artifact.kind == "judge" and artifact.rows == 4 and len(artifact.shards) == 2
    seen: list[int] = []
    data = collect(artifact, count=lambda texts: [len(t) for t in texts], on_batch=seen.append)  # "tokens" = characters
    assert seen == [3, 1] and data.rows == 4 and data.valid == 2
    assert data.rules == {"markers": [4, 3], "trace_nonempty": [3, 3], "solution_preserved": [3, 2]}
    assert data.lengths["trace"] == Counter({13: 1, 3: 1, 5: 1})  # the null trace is not a length of 0
    assert data.lengths["answer"] == Counter({10: 4})
    assert data.lengths["completion"] == Counter({5: 2, 7: 1})  # a null count is skipped
    assert data.prompt_tokens == 40 and data.completion_tokens == 17
    assert data.judge_scores == {"score": Counter({"1": 2, "0.5": 1})} and data.judge_undecided["score"] == 1
    words = collect(artifact, count=None).lengths["trace"]
    assert words == Counter({3: 2, 1: 1})  # "one two three", "a b c", "one"


def test_runs_come_from_provenance(tmp_path):
    starts = ["2026-01-01T00:00:00+00:00", "2026-01-02T00:00:00+00:00"]
    artifact = open_artifact(write(tmp_path / "a", [ROWS[:2], ROWS[2:]], starts))
    assert [r.provenance["started_at"] for r in artifact.runs] == starts
    assert [(r.shards, r.rows) for r in artifact.runs] == [(1, 2), (1, 2)]
    assert all(r.seconds is not None and r.seconds > 0 for r in artifact.runs)  # written "now", started in the past


def test_folders_that_are_not_artifacts_are_refused(tmp_path):
    with pytest.raises(ArtifactError, match="no such artifact folder"):
        open_artifact(tmp_path / "missing")
    (tmp_path / "plain").mkdir()
    with pytest.raises(ArtifactError, match="not a harness artifact"):
        open_artifact(tmp_path / "plain")
    folder = write(tmp_path / "a", [ROWS])
    (folder / ".harness" / "done" / "part-00000.parquet.json").unlink()
    with pytest.raises(ArtifactError, match="part-00000.parquet has no completion marker"):
        open_artifact(folder)
    folder = write(tmp_path / "b", [ROWS])
    (folder / "judge_summary.json").write_text("[1, 2]")
    with pytest.raises(ArtifactError, match="judge_summary.json: expected a JSON object"):
        open_artifact(folder)


def test_sections_say_what_is_absent(tmp_path):
    artifact = open_artifact(write(tmp_path / "a", [ROWS]))
    sections = {s.title: s for s in build_sections([Input(1, artifact, collect(artifact, None))])}
    assert sections["MMLU"].absent and "harness eval mmlu" in sections["MMLU"].absent
    assert sections["Judge scores"].absent is None and sections["Validator pass rates"].absent is None
    lineage = sections["Lineage"].blocks[1]
    assert (
        isinstance(lineage, Table) and lineage.rows[0][1] == "judge backfill"
    )  # no judge_summary.json: the task names it


def test_rendering_escapes_what_rows_hold():
    hostile = "<script>alert(1)</script> | pipe"
    doc = Document(
        "t",
        ["intro with `code`"],
        [Section("A & B", [hostile, Table(["h"], [[hostile]], {0}), Image("x.png", b"\x89PNG", "alt")])],
    )
    page = to_html(doc)
    assert "<script>" not in page and "&lt;script&gt;" in page and "<code>code</code>" in page
    assert 'src="data:image/png;base64,iVBORw==' in page and 'id="a-b"' in page
    md = to_markdown(doc)
    assert "| **<script>alert(1)</script> \\| pipe** |" in md and "![alt](plots/x.png)" in md


def test_bulk_word_counts_match_str_split():
    from reports.collect import _count_lengths

    texts = pa.array(["  a b ", "x\u00a0y\tz\n", "", None, "one", "p  q   r", "\u3000wide\u2003space"])
    second = pa.array(["x", None, None, None, "y z", None, ""])
    bulk, one_by_one = Counter(), Counter()
    _count_lengths(bulk, [texts, second], None)
    _count_lengths(one_by_one, [texts, second], lambda batch: [len(text.split()) for text in batch])
    assert bulk == one_by_one == Counter({3: 4, 0: 1, 2: 1})
