"""A large star `-pairs` artifact written by the real ArtifactWriter: for memory tests and benchmarks."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from harness.artifacts.writer import ArtifactWriter, base_provenance
from judges.selection import PAIR_FIELDS

SHARD = 10_000


def write_pairs_artifact(folder: Path, count: int) -> str:
    """A star `-pairs` artifact through the real ArtifactWriter, in shards of 10k rows."""
    schema = pa.schema(PAIR_FIELDS)
    text = "x" * 200
    with ArtifactWriter(folder, schema, {"test": "pairs"}).open({"rows": count}) as writer:
        for start in range(0, count, SHARD):
            n = min(SHARD, count - start)
            columns = {
                "record_id": [f"r{i}" for i in range(start, start + n)],
                "source_index": list(range(start, start + n)),
                "pair_idx": [0] * n,
                "question": [f"q{i}" for i in range(start, start + n)],
                "reference": ["4"] * n,
                "prompt": [f"question {i}: {text}" for i in range(start, start + n)],
                "chosen": [f"good {i}: {text}" for i in range(start, start + n)],
                "rejected": [f"bad {i}: {text}" for i in range(start, start + n)],
                "chosen_sample_idx": [0] * n,
                "rejected_sample_idx": [1] * n,
            }
            writer.commit(pa.table(columns, schema=schema), base_provenance())
    return str(folder)
