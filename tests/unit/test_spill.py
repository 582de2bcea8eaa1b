"""Bounded-memory id keeping (harness/artifacts/spill.py): exact across the bound, with the bound set small."""

from __future__ import annotations

import hashlib
import json

import pyarrow as pa
import pytest

from harness.artifacts import groups, writer
from harness.artifacts.groups import question_groups
from harness.artifacts.sources import InputError, open_source
from harness.artifacts.spill import SpillCounts, SpillMap
from harness.artifacts.writer import ArtifactWriter
from harness.engines.cache import canonical_sha256


def test_counts_are_exact_across_the_bound(tmp_path):
    (tmp_path / "spill").mkdir()
    counts = SpillCounts(bound=7, folder=tmp_path / "spill")
    keys = [f"k{i % 23}" for i in range(200)] + [b"raw", b"raw"]
    befores = [counts.add(k) for k in keys]
    expected: dict[object, int] = {}
    for k, before in zip(keys, befores, strict=True):
        assert before == expected.get(k, 0)
        expected[k] = before + 1
    assert counts._db is not None  # it did spill
    assert len(counts) == 24 and sorted(map(str, counts)) == sorted(map(str, expected))
    assert all(counts.count(k) == n for k, n in expected.items())
    assert "k3" in counts and "k99" not in counts and 5 not in counts
    assert list((tmp_path / "spill").iterdir()) == []  # the spilled file is unlinked while open
    counts.close()


def test_map_is_exact_across_the_bound(tmp_path):
    (tmp_path / "spill").mkdir()
    values = SpillMap(bound=7, folder=tmp_path / "spill")
    assert not values and values.get(3) is None and 3 not in values
    expected: dict[object, object] = {}
    for i in range(100):
        key = i % 41 if i % 3 else f"s{i % 17}"
        values[key] = expected[key] = {"gold": [i, None], "n": i}  # set again: the newer value wins
    assert values._db is not None and values  # it did spill
    assert all(values.get(k) == v and values[k] == v and k in values for k, v in expected.items())
    assert dict(values.items()) == expected and len(list(values.items())) == len(expected)
    assert values.get(999, "none") == "none" and 999 not in values and 2.5 not in values
    with pytest.raises(KeyError):
        values["absent"]
    assert list((tmp_path / "spill").iterdir()) == []
    values.close()


def _old_ids(rows: list[dict]) -> list[str]:
    """record_ids as Source.rows() gave them before it spilled: a dict of every digest."""
    seen: dict[bytes, int] = {}
    ids = []
    for row in rows:
        digest = canonical_sha256(row)
        occurrence = seen.get(digest, 0)
        seen[digest] = occurrence + 1
        if occurrence == 0:
            ids.append(digest.hex()[:32])
        else:
            ids.append(hashlib.sha256(f"{digest.hex()}#{occurrence}".encode()).hexdigest()[:32])
    return ids


def test_source_ids_unchanged_with_duplicates_across_the_bound(tmp_path):
    rows = [{"instruction": f"q{i % 700}", "solution": str(i % 700)} for i in range(3000)]  # each row 4-5 times
    path = tmp_path / "in.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    source = open_source(str(path), {"instruction": "instruction"})
    small = [r.record_id for r in source.rows(tmp_path, bound=50)]
    assert small == [r.record_id for r in source.rows()] == _old_ids(rows)
    assert len(set(small)) == 3000


def test_resume_ids_and_question_order_across_the_bound(tmp_path, monkeypatch):
    monkeypatch.setattr(writer, "SPILL_BOUND", 40)
    monkeypatch.setattr(groups, "SPILL_BOUND", 40)
    schema = pa.schema([("record_id", pa.string()), ("sample_idx", pa.int64()), ("finish_reason", pa.string())])
    ids = [f"r{i}" for i in range(300)]
    with ArtifactWriter(tmp_path / "out", schema, {"t": 1}).open({}) as w:
        for start in range(0, 300, 100):
            chunk = [i for i in ids[start : start + 100] for _ in range(2)]
            finish = ["error" if rid == "r150" else "stop" for rid in chunk]
            w.commit(pa.table({"record_id": chunk, "sample_idx": [0, 1] * 100, "finish_reason": finish}, schema), {})
        done = w.done_record_ids()
        assert len(done) == 299 and "r150" not in done and "r0" in done and "r299" in done
        assert set(done) == set(ids) - {"r150"}
        assert [g[0]["record_id"] for g in question_groups(w.shards())] == ids
    apart = pa.table({"record_id": [*ids[:100], "r7"], "sample_idx": [0] * 101, "finish_reason": ["stop"] * 101})
    with ArtifactWriter(tmp_path / "apart", schema, {"t": 1}).open({}) as w:
        w.commit(apart.cast(schema), {})
        with pytest.raises(InputError, match="record r7 are not next to each other"):
            list(question_groups(w.shards()))
