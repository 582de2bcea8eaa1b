"""The training dataset streams to disk: same content and types as `Dataset.from_list`, memory flat in the input."""

from __future__ import annotations

import json
import os
import time
import tracemalloc
from pathlib import Path

import pytest
from datasets import Dataset

from harness.artifacts.sources import InputError
from harness.config import TrainConfig
from harness.engines.cache import cache_dir
from harness.stages import train_dataset
from harness.stages.train_dataset import Scratch, write_dataset
from harness.stages.train_rows import training_rows
from tests.unit.pairs_artifact import write_pairs_artifact


def write_jsonl(path: Path, rows: list[dict]) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


# Shapes where typing batch by batch could differ from typing all rows at once.
TRICKY = {
    "null_first": [{"a": None}] * 5 + [{"a": "x"}] * 5,
    "int_then_float": [{"a": 1}] * 5 + [{"a": 2.5}] * 5,
    "empty_list_first": [{"a": []}] * 5 + [{"a": ["x", "y"]}] * 5,
    "struct_keys_differ": [{"a": {"x": 1}}] * 5 + [{"a": {"y": "s"}}] * 5,
    "later_rows_lack_a_key": [{"a": "x", "b": 1}] * 5 + [{"a": "y"}] * 5,
    "messages": [{"messages": [{"role": "user", "content": f"m{i}"}], "n": i} for i in range(10)],
}


@pytest.mark.parametrize("name", TRICKY)
@pytest.mark.parametrize("batch", [3, 1000])
def test_same_content_and_types_as_from_list(name, batch, tmp_path, monkeypatch):
    monkeypatch.setattr(train_dataset, "BATCH", batch)  # 3: the rows cross batches and parts
    rows = TRICKY[name]
    got = write_dataset("t", iter(rows), tmp_path)
    want = Dataset.from_list(rows)
    assert got.features == want.features and got.column_names == want.column_names
    assert got.to_list() == want.to_list()


def test_a_column_mixing_types_across_batches_is_named(tmp_path, monkeypatch):
    monkeypatch.setattr(train_dataset, "BATCH", 2)
    rows = [{"prompt": "p", "answer": 1}] * 2 + [{"prompt": "p", "answer": "B"}] * 2
    with pytest.raises(InputError, match=r"^t: column 'answer' mixes types \(int, str\)"):
        write_dataset("t", iter(rows), tmp_path)


def test_no_rows_is_none(tmp_path):
    assert write_dataset("t", iter([]), tmp_path) is None


def test_each_build_has_its_own_folder_in_the_harness_cache_removed_on_close(tmp_path):
    path = write_jsonl(tmp_path / "a.jsonl", [{"text": "one"}, {"text": "two"}])
    cfg = TrainConfig(method="sft", input=path, output="o")
    with training_rows(cfg) as first, training_rows(cfg) as second:
        folders = [Path(d.dataset.cache_files[0]["filename"]).parent for d in (first, second)]
        assert folders[0] != folders[1] and all(f.parent == cache_dir() / "train-data" for f in folders)
        write_jsonl(tmp_path / "a.jsonl", [{"text": "changed"}])
        with training_rows(cfg) as third:  # a rerun on a changed input reads the input, not an earlier build
            assert third.dataset.to_list() == [{"text": "changed"}]
        assert first.dataset.to_list() == [{"text": "one"}, {"text": "two"}]
    assert not any(f.exists() for f in folders)


def test_failed_build_leaves_nothing_and_orphans_are_swept(tmp_path):
    bad = write_jsonl(tmp_path / "bad.jsonl", [{"text": "ok"}, {"text": ""}])
    with pytest.raises(InputError, match="row 1, column 'text'"):
        training_rows(TrainConfig(method="sft", input=bad, output="o"))
    root = cache_dir() / "train-data"
    assert list(root.iterdir()) == []
    orphan = root / "left-by-a-killed-run"
    orphan.mkdir()
    old = time.time() - 2 * train_dataset.ORPHAN_AGE_S
    os.utime(orphan, (old, old))
    held = Scratch()  # another build, still running: its folder is locked and stays
    os.utime(held.path, (old, old))
    Scratch().close()
    assert not orphan.exists() and held.path.exists()
    held.close()


def _peak_bytes(cfg: TrainConfig) -> tuple[int, int]:
    tracemalloc.start()
    try:
        with training_rows(cfg) as data:
            used = len(data.dataset)
        return tracemalloc.get_traced_memory()[1], used
    finally:
        tracemalloc.stop()


def test_python_memory_does_not_grow_with_the_artifact(tmp_path):
    """Python allocations while building the dataset from 10k and from 100k pairs: the same, within noise.
    (Holding the rows as a list, as before, peaked at over 10x more for 100k.)"""
    small = write_pairs_artifact(tmp_path / "small", 10_000)
    large = write_pairs_artifact(tmp_path / "large", 100_000)
    _peak_bytes(TrainConfig(method="dpo", input=small, output="o", limit=10))  # imports, caches: not growth
    peak_small, used_small = _peak_bytes(TrainConfig(method="dpo", input=small, output="o"))
    peak_large, used_large = _peak_bytes(TrainConfig(method="dpo", input=large, output="o"))
    assert (used_small, used_large) == (10_000, 100_000)
    assert peak_large < 1.5 * peak_small + 2_000_000, (peak_small, peak_large)
