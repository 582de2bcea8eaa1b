"""harness/artifacts/writer.py: atomic shards, completion markers, recovery after a kill, provenance, loadability."""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from harness.artifacts.schemas import Verdict as V
from harness.artifacts.schemas import to_table, traces_schema, verdict_fields
from harness.artifacts.writer import ArtifactError, ArtifactWriter, base_provenance, read_provenance
from tasks.backfill import BackfillTask

SCHEMA = pa.schema([pa.field("record_id", pa.string(), nullable=False), pa.field("text", pa.string())])
IDENTITY = {"task": "backfill", "model": "m@1", "sampling": {"temperature": 0.7}}
CONFIG = {"task": "backfill", "output": "out", "note": "ünïcode ✓"}


def table(*ids: str, schema: pa.Schema = SCHEMA) -> pa.Table:
    return pa.Table.from_pylist([{"record_id": i, "text": f"text {i}"} for i in ids], schema=schema)


def writer(folder: Path, identity: dict = IDENTITY, schema: pa.Schema = SCHEMA, label: str | None = None):
    return ArtifactWriter(folder, schema, identity, label)


def listing(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


# -- writing ---------------------------------------------------------------------------------------------------
def test_commit_writes_a_shard_and_its_marker(tmp_path):
    out = tmp_path / "out"
    with writer(out).open(CONFIG) as w:
        path = w.commit(table("a", "b"), {"p": 1})
    assert path == out / "part-00000.parquet"
    assert listing(out) == [
        ".harness/config.yaml",
        ".harness/done/part-00000.parquet.json",
        ".harness/lock",
        ".harness/run.json",
        "part-00000.parquet",
    ]
    marker = json.loads((out / ".harness/done/part-00000.parquet.json").read_text())
    assert marker == {
        "file": "part-00000.parquet",
        "rows": 2,
        "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
    }
    assert pq.read_table(path).column("record_id").to_pylist() == ["a", "b"]
    assert pq.read_schema(path).remove_metadata().equals(SCHEMA)


def test_open_saves_the_config_and_the_run_identity(tmp_path):
    import yaml

    out = tmp_path / "out"
    with writer(out).open(CONFIG):
        pass
    assert yaml.safe_load((out / ".harness/config.yaml").read_text(encoding="utf-8")) == CONFIG
    assert "ünïcode ✓" in (out / ".harness/config.yaml").read_text(encoding="utf-8")
    assert json.loads((out / ".harness/run.json").read_text()) == IDENTITY


def test_commits_are_numbered_in_sequence_and_resume_continues(tmp_path):
    out = tmp_path / "out"
    with writer(out).open(CONFIG) as w:
        assert w.commit(table("a"), {}).name == "part-00000.parquet"
        assert w.commit(table("b", "c"), {}).name == "part-00001.parquet"
    with writer(out).open(CONFIG) as w:
        assert set(w.done_record_ids()) == {"a", "b", "c"}
        assert w.rows_written() == 3
        assert w.commit(table("d"), {}).name == "part-00002.parquet"
        assert [p.name for p in w.shards()] == [f"part-0000{i}.parquet" for i in range(3)]


def test_committing_into_a_folder_of_many_shards_holds_none_of_their_names(tmp_path):
    """A 10M-row select writes 39,063 shards: listing them all at each commit held ~10 MiB of names at once."""
    import tracemalloc

    out = tmp_path / "out"
    with writer(out).open(CONFIG) as w:
        assert not w.has_shards()
        w.commit(table("a"), {})
        for seq in range(1, 10_000):  # stand-ins, placed after open so recovery does not refuse them
            (out / f"part-{seq:05d}.parquet").touch()
        w = writer(out)  # a fresh writer finds its next number by looking once
        tracemalloc.start()
        try:
            assert w.commit(table("b"), {}).name == "part-10000.parquet"
            assert w.commit(table("c"), {}).name == "part-10001.parquet"
            assert w.has_shards()
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert peak < 1 << 20, f"{peak} bytes for two commits beside 10,000 shards (4.3 MB before)"


def test_done_record_ids_of_a_new_folder_is_empty(tmp_path):
    with writer(tmp_path / "out").open(CONFIG) as w:
        assert set(w.done_record_ids()) == set()
        assert w.rows_written() == 0
        assert w.shards() == []


def test_shard_label_in_the_file_name(tmp_path):
    out = tmp_path / "out"
    with writer(out, label="s1of2").open(CONFIG) as w:
        assert w.commit(table("a"), {}).name == "part-s1of2-00000.parquet"
        assert w.commit(table("b"), {}).name == "part-s1of2-00001.parquet"
        assert set(w.done_record_ids()) == {"a", "b"}
    assert (out / ".harness/done/part-s1of2-00000.parquet.json").exists()


def test_commit_refuses_a_table_with_another_schema(tmp_path):
    other = pa.schema([pa.field("record_id", pa.string()), pa.field("text", pa.string())])  # nullable id
    with writer(tmp_path / "out").open(CONFIG) as w, pytest.raises(ArtifactError, match="^internal: shard schema"):
        w.commit(table("a", schema=other), {})


def test_commit_leaves_no_temporary_files(tmp_path):
    out = tmp_path / "out"
    with writer(out).open(CONFIG) as w:
        w.commit(table("a"), {})
        assert list((out / ".harness/tmp").iterdir()) == []
        assert not list(out.rglob("*.writing"))


# -- provenance ------------------------------------------------------------------------------------------------
def test_provenance_is_stamped_on_each_shard(tmp_path):
    out = tmp_path / "out"
    provenance = {"task": "backfill", "model": {"id": "m", "sha": "x"}, "text": "ünïcode"}
    with writer(out).open(CONFIG) as w:
        first = w.commit(table("a", "b"), provenance)
        second = w.commit(table("c"), provenance)
    got = read_provenance(first)
    assert {k: got[k] for k in provenance} == provenance
    assert got["part"] == "part-00000.parquet"
    assert got["rows"] == 2
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", got["written_at"])
    assert read_provenance(second)["part"] == "part-00001.parquet"
    assert read_provenance(second)["rows"] == 1


def test_read_provenance_of_a_foreign_file_is_empty(tmp_path):
    path = tmp_path / "x.parquet"
    pq.write_table(table("a"), path)
    assert read_provenance(path) == {}


def test_base_provenance():
    from harness import __version__

    got = base_provenance()
    assert got["harness_version"] == __version__
    assert got["git_revision"] is None or re.fullmatch(r"[0-9a-f]{40}(\+dirty)?", got["git_revision"])
    assert set(got) == {"harness_version", "git_revision", "started_at"}


# -- recovery ----------------------------------------------------------------------------------------------------
def committed(tmp_path: Path, *ids: str) -> Path:
    out = tmp_path / "out"
    with writer(out).open(CONFIG) as w:
        w.commit(table(*ids), {})
    return out


def test_recovery_rolls_a_committed_shard_forward(tmp_path):
    """(a) killed after the marker was written, before the rename: tmp + marker, no final file."""
    out = committed(tmp_path, "a", "b")
    os.replace(out / "part-00000.parquet", out / ".harness/tmp/part-00000.parquet")
    with writer(out).open(CONFIG) as w:
        assert [p.name for p in w.shards()] == ["part-00000.parquet"]
        assert set(w.done_record_ids()) == {"a", "b"}
    assert list((out / ".harness/tmp").iterdir()) == []
    assert (out / ".harness/done/part-00000.parquet.json").exists()


def test_recovery_deletes_an_uncommitted_shard(tmp_path):
    """(b) killed while writing: a tmp file without a marker is dropped and never visible."""
    out = committed(tmp_path, "a")
    pq.write_table(table("b", "c"), out / ".harness/tmp/part-00001.parquet")
    (out / ".harness/tmp/part-00002.parquet").write_bytes(b"PAR1 half a file")
    with writer(out).open(CONFIG) as w:
        assert set(w.done_record_ids()) == {"a"}
        assert [p.name for p in w.shards()] == ["part-00000.parquet"]
        assert w.commit(table("b"), {}).name == "part-00001.parquet"
    assert list((out / ".harness/tmp").iterdir()) == []


def test_recovery_drops_a_marker_without_any_file(tmp_path):
    """(c) a marker whose shard is gone (neither tmp nor final) is not a commit."""
    out = committed(tmp_path, "a")
    marker = {"file": "part-00001.parquet", "rows": 1, "sha256": "0" * 64}
    (out / ".harness/done/part-00001.parquet.json").write_text(json.dumps(marker))
    with writer(out).open(CONFIG) as w:
        assert set(w.done_record_ids()) == {"a"}
    assert sorted(p.name for p in (out / ".harness/done").iterdir()) == ["part-00000.parquet.json"]


def test_recovery_drops_a_marker_whose_tmp_file_does_not_match(tmp_path):
    out = committed(tmp_path, "a")
    pq.write_table(table("b"), out / ".harness/tmp/part-00001.parquet")
    marker = {"file": "part-00001.parquet", "rows": 1, "sha256": "0" * 64}
    (out / ".harness/done/part-00001.parquet.json").write_text(json.dumps(marker))
    with writer(out).open(CONFIG) as w:
        assert set(w.done_record_ids()) == {"a"}
    assert not (out / "part-00001.parquet").exists()
    assert not (out / ".harness/done/part-00001.parquet.json").exists()
    assert list((out / ".harness/tmp").iterdir()) == []


def test_recovery_drops_a_broken_marker(tmp_path):
    out = committed(tmp_path, "a")
    (out / ".harness/done/part-00001.parquet.json").write_text('{"file": "part-0')
    with writer(out).open(CONFIG) as w:
        assert set(w.done_record_ids()) == {"a"}
    assert not (out / ".harness/done/part-00001.parquet.json").exists()


@pytest.mark.parametrize("name", ["part-00001.parquet", "extra.parquet"])
def test_stray_parquet_without_marker_is_refused(tmp_path, name):
    """(d) a Parquet file the harness did not commit would be read as part of the artifact."""
    out = committed(tmp_path, "a")
    pq.write_table(table("x"), out / name)
    with pytest.raises(ArtifactError) as err:
        writer(out).open(CONFIG)
    assert str(err.value) == (
        f"{out / name} has no completion marker in {out / '.harness' / 'done'}: it was not written by this "
        "harness run; move it out of the output folder"
    )


def test_stray_parquet_in_a_new_folder_is_refused(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    pq.write_table(table("x"), out / "data.parquet")
    with pytest.raises(ArtifactError, match="data.parquet has no completion marker"):
        writer(out).open(CONFIG)


def test_reopening_with_another_identity_names_the_changed_key(tmp_path):
    """(e) resuming with other settings would mix two runs in one artifact."""
    out = committed(tmp_path, "a")
    changed = {**IDENTITY, "model": "m@2", "seed": 3}
    with pytest.raises(ArtifactError) as err:
        writer(out, identity=changed).open(CONFIG)
    assert str(err.value) == (
        f"{out} holds a run with other settings (model: 'm@1' -> 'm@2'; seed: None -> 3); resuming would mix "
        "them. Use another --output, or delete the folder to start over"
    )


def test_reopening_with_a_nested_change_names_only_the_setting_that_differs(tmp_path):
    out = tmp_path / "out"
    with writer(out, identity={**IDENTITY, "sampling": {"temperature": 0.7, "max_tokens": 256}}).open(CONFIG) as w:
        w.commit(table("a"), {})
    with pytest.raises(ArtifactError, match=r"other settings \(sampling\.max_tokens: 256 -> 128\); resuming"):
        writer(out, identity={**IDENTITY, "sampling": {"temperature": 0.7, "max_tokens": 128}}).open(CONFIG)


def test_reopening_with_the_same_identity_and_another_config_is_fine(tmp_path):
    out = committed(tmp_path, "a")
    with writer(out).open({**CONFIG, "batch_size": 99}) as w:
        assert set(w.done_record_ids()) == {"a"}


def test_identity_compares_through_json(tmp_path):
    """Tuples and lists, Paths and strings serialize the same: not a change."""
    out = tmp_path / "out"
    with writer(out, identity={"stop": ("a",), "path": Path("/x")}).open(CONFIG):
        pass
    with writer(out, identity={"stop": ["a"], "path": "/x"}).open(CONFIG):
        pass


def test_schema_mismatch_is_refused(tmp_path):
    """(f) a folder written with another schema."""
    out = committed(tmp_path, "a")
    other = pa.schema([pa.field("record_id", pa.string(), nullable=False), pa.field("text", pa.large_string())])
    with pytest.raises(ArtifactError) as err:
        writer(out, schema=other).open(CONFIG)
    assert (
        str(err.value) == f"{out / 'part-00000.parquet'} has another schema than this run writes; use another --output"
    )


def test_a_second_writer_is_refused_while_the_first_holds_the_lock(tmp_path):
    """(g) two processes writing one folder would both number their shards part-00000."""
    out = tmp_path / "out"
    with writer(out).open(CONFIG) as first:
        with pytest.raises(ArtifactError, match=re.escape(f"another harness process is writing to {out}")):
            writer(out).open(CONFIG)
        first.commit(table("a"), {})
    with writer(out).open(CONFIG) as again:  # released on close
        assert set(again.done_record_ids()) == {"a"}


def test_a_second_writer_gets_an_artifact_error(tmp_path):
    out = tmp_path / "out"
    with writer(out).open(CONFIG), pytest.raises(ArtifactError):
        writer(out).open(CONFIG)


def test_a_failed_open_releases_the_lock(tmp_path):
    out = committed(tmp_path, "a")
    refused = writer(out, identity={**IDENTITY, "model": "other"})
    with pytest.raises(ArtifactError):
        refused.open(CONFIG)
    with writer(out).open(CONFIG) as w:
        assert set(w.done_record_ids()) == {"a"}


# -- the folder as a dataset ------------------------------------------------------------------------------------
def backfill_rows(ids: list[str]) -> list[dict]:
    rows = []
    for n, rid in enumerate(ids):
        rows.append(
            {
                "record_id": rid,
                "parent_id": None,
                "source_index": n,
                "sample_idx": 0,
                "task": "backfill",
                "task_version": "1",
                "template_hash": "0123456789abcdef",
                "instruction": f"q{n}",
                "solution": f"a{n}",
                "trace": "t",
                "messages": [{"role": "user", "content": f"q{n}"}, {"role": "assistant", "content": "t"}],
                "completion": "t<|thinking_end|>",
                "finish_reason": "stop",
                "prompt_tokens": 5,
                "completion_tokens": 2,
                **verdict_fields([V("markers", True, "ok")]),
            }
        )
    return rows


def test_traces_schema_survives_a_resume(tmp_path):
    """The declared schema (non-null fields, list<struct>) compares equal after a Parquet round trip."""
    out = tmp_path / "out"
    schema = traces_schema(BackfillTask.fields)
    with ArtifactWriter(out, schema, IDENTITY).open(CONFIG) as w:
        w.commit(to_table(backfill_rows(["r0", "r1"]), schema), {})
    with ArtifactWriter(out, schema, IDENTITY).open(CONFIG) as w:
        assert set(w.done_record_ids()) == {"r0", "r1"}


def test_folder_loads_with_datasets_and_polars_showing_only_the_shards(tmp_path):
    import datasets
    import polars as pl

    out = tmp_path / "out"
    schema = traces_schema(BackfillTask.fields)
    with ArtifactWriter(out, schema, IDENTITY).open(CONFIG) as w:
        w.commit(to_table(backfill_rows(["r0", "r1"]), schema), {"p": 1})
        w.commit(to_table(backfill_rows(["r2"]), schema), {"p": 1})
    # a shard in flight lies in the hidden folder: no reader may see it
    pq.write_table(to_table(backfill_rows(["in-flight"]), schema), out / ".harness/tmp/part-00002.parquet")

    loaded = datasets.load_dataset("parquet", data_dir=str(out), split="train", cache_dir=str(tmp_path / "hf"))
    assert sorted(loaded["record_id"]) == ["r0", "r1", "r2"]
    assert loaded.features["messages"] == datasets.List(
        {"role": datasets.Value("string"), "content": datasets.Value("string")}
    )

    frame = pl.scan_parquet(out / "*.parquet").collect()
    assert sorted(frame["record_id"].to_list()) == ["r0", "r1", "r2"]
    assert frame.columns == schema.names


# -- retried records: rewriting a shard in place ---------------------------------------------------------------
def trace_rows(*specs: tuple[str, int, str]) -> list[dict]:
    """Rows of a traces artifact: (record_id, source_index, finish_reason)."""
    task = BackfillTask()
    return [
        {"record_id": rid, "source_index": idx, "sample_idx": 0, "task": "backfill", "task_version": "1",
         "template_hash": "h", "finish_reason": finish, "completion": None if finish == "error" else "c",
         **verdict_fields([V("engine_error", False, "HTTP 500")] if finish == "error" else [])}
        | {f.name: None for f in task.fields}
        for rid, idx, finish in specs
    ]  # fmt: skip


def traces_writer(folder: Path) -> ArtifactWriter:
    return writer(folder, schema=traces_schema(BackfillTask().fields))


def test_records_with_error_rows_are_not_done_and_point_to_their_shard(tmp_path):
    out = tmp_path / "out"
    schema = traces_schema(BackfillTask().fields)
    with traces_writer(out).open(CONFIG) as w:
        w.commit(to_table(trace_rows(("a", 0, "stop"), ("b", 1, "error")), schema), {})
        w.commit(to_table(trace_rows(("c", 2, "error"), ("d", 3, "length")), schema), {})
        assert set(w.done_record_ids()) == {"a", "d"}
        assert dict(w.failed_records().items()) == {"b": "part-00000.parquet", "c": "part-00001.parquet"}


def test_a_row_past_the_context_is_final_and_a_record_with_another_failure_is_not(tmp_path):
    """`context_overflow` fails the same way with the same settings (the run's identity): not retried."""
    out = tmp_path / "out"
    schema = traces_schema(BackfillTask().fields)
    rows = trace_rows(("a", 0, "error"), ("b", 1, "error"), ("b", 1, "error"), ("c", 2, "stop"))
    for row in rows[:2]:
        row.update(verdict_fields([V("context_overflow", False, "prompt too long for the context")]))
    with traces_writer(out).open(CONFIG) as w:
        w.commit(to_table(rows, schema), {})
        assert set(w.done_record_ids()) == {"a", "c"}  # b's other sample failed otherwise: b is retried whole
        assert dict(w.failed_records().items()) == {"b": "part-00000.parquet"}


def test_replace_records_rewrites_the_shard_in_place_and_in_order(tmp_path):
    out = tmp_path / "out"
    schema = traces_schema(BackfillTask().fields)
    with traces_writer(out).open(CONFIG) as w:
        w.commit(to_table(trace_rows(("a", 0, "stop"), ("b", 1, "error"), ("c", 2, "stop")), schema), {"run": 1})
        w.replace_records("part-00000.parquet", to_table(trace_rows(("b", 1, "stop")), schema), {"run": 2})
        assert dict(w.failed_records().items()) == {} and set(w.done_record_ids()) == {"a", "b", "c"}
    shard = out / "part-00000.parquet"
    assert [p.name for p in out.glob("*.parquet")] == ["part-00000.parquet"]
    got = pq.read_table(shard, columns=["record_id", "finish_reason"]).to_pylist()
    assert got == [{"record_id": r, "finish_reason": "stop"} for r in "abc"]
    assert read_provenance(shard)["run"] == 2 and read_provenance(shard)["replaced_records"] == 1
    marker = json.loads((out / ".harness/done/part-00000.parquet.json").read_text())
    assert marker["sha256"] == hashlib.sha256(shard.read_bytes()).hexdigest() and marker["rows"] == 3


def test_a_rewrite_killed_after_its_marker_rolls_forward(tmp_path):
    """Killed between the new marker and the rename: the old shard is still in place, the new one in tmp/."""
    out = tmp_path / "out"
    schema = traces_schema(BackfillTask().fields)
    with traces_writer(out).open(CONFIG) as w:
        w.commit(to_table(trace_rows(("a", 0, "error")), schema), {})
    old = (out / "part-00000.parquet").read_bytes()
    with traces_writer(out).open(CONFIG) as w:
        w.replace_records("part-00000.parquet", to_table(trace_rows(("a", 0, "stop")), schema), {})
    new = (out / "part-00000.parquet").read_bytes()
    (out / ".harness/tmp/part-00000.parquet").write_bytes(new)
    (out / "part-00000.parquet").write_bytes(old)
    with traces_writer(out).open(CONFIG) as w:
        assert dict(w.failed_records().items()) == {} and set(w.done_record_ids()) == {"a"}
    assert (out / "part-00000.parquet").read_bytes() == new


def test_a_rewrite_killed_before_its_marker_keeps_the_old_shard(tmp_path):
    out = tmp_path / "out"
    schema = traces_schema(BackfillTask().fields)
    with traces_writer(out).open(CONFIG) as w:
        w.commit(to_table(trace_rows(("a", 0, "error")), schema), {})
    pq.write_table(to_table(trace_rows(("a", 0, "stop")), schema), out / ".harness/tmp/part-00000.parquet")
    with traces_writer(out).open(CONFIG) as w:
        assert dict(w.failed_records().items()) == {"a": "part-00000.parquet"}  # to retry: nothing lost or doubled
    assert list((out / ".harness/tmp").iterdir()) == []


def test_artifacts_without_finish_reason_have_no_failed_records(tmp_path):
    with writer(tmp_path / "out").open(CONFIG) as w:
        w.commit(table("a"), {})
        assert dict(w.failed_records().items()) == {} and set(w.done_record_ids()) == {"a"}


def test_generated_by_is_the_model_that_wrote_the_rows_not_the_judges():
    from harness.artifacts.writer import generated_by

    synth_model = {"requested": "default", "path": "/m", "fingerprint": "sha256:1", "source": "default"}
    assert generated_by({"model": synth_model}) == synth_model  # a generating stage: its own model
    judge_model = {**synth_model, "path": "/judge"}
    judged = {"stage": "judge", "model": judge_model, "generated_by": synth_model}
    assert generated_by(judged) == synth_model  # carried over, whatever model judged
    assert generated_by({"stage": "judge", "model": judge_model}) is None  # older judged artifacts: unknown
    assert generated_by({"stage": "judge", "model": None}) is None and generated_by({}) is None
    assert generated_by({"stage": "select", "generated_by": synth_model}) == synth_model
