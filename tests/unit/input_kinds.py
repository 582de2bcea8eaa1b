"""The same rows written as every input kind synth reads, for tests that check a stage reads them all."""

from __future__ import annotations

import json
from pathlib import Path

import datasets
import pyarrow as pa
import pyarrow.parquet as pq


def every_input_kind(folder: Path, rows: list[dict], csv: str) -> dict[str, Path]:
    """kind -> path: JSONL, CSV (`csv`, the caller's text: quoting and nulls are the caller's to choose), Parquet,
    a folder of two Parquet shards (the rows split in half) and a saved dataset."""
    table = pa.Table.from_pylist(rows)
    paths = {"jsonl": folder / "rows.jsonl", "csv": folder / "rows.csv", "parquet": folder / "rows.parquet"}
    paths["jsonl"].write_text("".join(json.dumps(r) + "\n" for r in rows))
    paths["csv"].write_text(csv)
    pq.write_table(table, paths["parquet"])
    (folder / "shards").mkdir()
    half = len(rows) // 2
    pq.write_table(table.slice(0, half), folder / "shards" / "a.parquet")
    pq.write_table(table.slice(half), folder / "shards" / "b.parquet")
    paths["folder"] = folder / "shards"
    datasets.Dataset.from_list(rows).save_to_disk(str(folder / "saved"))
    paths["saved"] = folder / "saved"
    return paths
