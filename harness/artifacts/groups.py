"""Reading a harness artifact question by question: the rows that share a `record_id` (a question's samples
or variants), which a synth artifact keeps next to each other. Streamed; memory holds one question."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from harness.artifacts.sources import InputError
from harness.artifacts.spill import SPILL_BOUND, SpillCounts
from harness.artifacts.writer import PART_RE, verify_shards

IDENTITY = ("record_id", "source_index")  # what an input artifact must have


def artifact_shards(path: Path, needs: tuple[str, ...] = IDENTITY, what: str = "harness synth") -> list[Path]:
    """The committed shards of an artifact folder, checked for the columns `needs`."""
    if not path.is_dir():
        raise InputError(f"{path}: not an artifact folder (expected the --output folder of {what})")
    shards = sorted(p for p in path.glob("*.parquet") if PART_RE.match(p.name))
    if not shards:
        raise InputError(f"{path}: no part-*.parquet shards; is it the --output folder of {what}?")
    verify_shards(path, shards)  # before any footer is parsed: a corrupted one can fail in odd ways
    for shard in shards:
        try:
            names = pq.read_schema(shard).names
        except (OSError, pa.ArrowException) as err:
            raise InputError(f"{shard}: not a readable Parquet file ({err})") from err
        missing = [c for c in needs if c not in names]
        if missing:
            raise InputError(f"{shard}: column(s) {missing} missing; expected the --output folder of {what}")
    return shards


def question_groups(shards: list[Path]) -> Iterator[list[dict[str, Any]]]:
    """The rows, question by question (consecutive rows sharing a record_id). The questions already read are
    kept to refuse one whose rows are apart; past `SPILL_BOUND` of them, on disk."""
    closed = SpillCounts(SPILL_BOUND)
    group: list[dict[str, Any]] = []
    for shard in shards:
        for batch in pq.ParquetFile(shard, pre_buffer=False).iter_batches(batch_size=1024):
            for row in batch.to_pylist():
                if group and row["record_id"] != group[0]["record_id"]:
                    closed.add(group[0]["record_id"])
                    yield group
                    group = []
                if not group and row["record_id"] in closed:  # a question's later rows need no look-up
                    raise InputError(
                        f"{shard}: the rows of record {row['record_id']} are not next to each other; "
                        "a question's rows must be read together"
                    )
                group.append(row)
    if group:
        yield group


def count_rows(shards: list[Path]) -> int:
    return sum(pq.ParquetFile(s).metadata.num_rows for s in shards)
