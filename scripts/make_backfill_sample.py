"""Generate the bundled sample of (instruction, solution) pairs for the backfill task.

Writes ``harness/data/backfill_sample.jsonl``: 120 real reasoning problems with
known-correct answers, 15 from each of 8 procedural generators in the PyPI package
``reasoning-gym`` (arithmetic, logic and word problems). The file is the demo and
test data for the ``backfill`` task. It is generated, not written by hand, so that
every solution is checked by the generator's own scorer and anyone can rebuild it.

Each line is one JSON object with keys, in this order:

    instruction  the generator's question, verbatim
    solution     the generator's answer, verbatim (a string)
    generator    the reasoning-gym dataset name
    seed         the seed passed to ``reasoning_gym.create_dataset``
    index        the row's index within that generator's dataset
    config       the other kwargs passed to ``create_dataset`` (besides size/seed)

The output is deterministic: the same reasoning-gym version gives a
byte-identical file. It was generated with reasoning-gym 0.1.25. Regenerate it
from the repository root with:

    python scripts/make_backfill_sample.py --output harness/data/backfill_sample.jsonl
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

import reasoning_gym

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUTPUT = REPO_ROOT / "harness" / "data" / "backfill_sample.jsonl"

ROWS_PER_GENERATOR = 15
MAX_QUESTION_CHARS = 600

# (dataset name, seed, kwargs for create_dataset other than size and seed).
# Seeds are arbitrary fixed values, except that gsm_symbolic's was chosen so that
# all of its questions stay under MAX_QUESTION_CHARS.
GENERATORS: list[tuple[str, int, dict[str, Any]]] = [
    # Arithmetic
    ("basic_arithmetic", 1001, {}),
    ("chain_sum", 1002, {}),
    ("fraction_simplification", 1003, {"styles": ["plain"]}),
    ("gcd", 1004, {}),
    # Logic
    ("syllogism", 1005, {}),
    ("knights_knaves", 1006, {}),
    # Word problems
    ("calendar_arithmetic", 1007, {}),
    ("gsm_symbolic", 1008, {}),
]


def generate_rows() -> list[dict[str, Any]]:
    """Build every sample row, checking each answer with the generator's scorer."""
    rows: list[dict[str, Any]] = []
    for name, seed, config in GENERATORS:
        dataset = reasoning_gym.create_dataset(name, size=ROWS_PER_GENERATOR, seed=seed, **config)
        for index, entry in enumerate(dataset):
            score = dataset.score_answer(answer=entry["answer"], entry=entry)
            assert score == 1.0, f"{name}[{index}]: answer scores {score}, not 1.0"
            assert isinstance(entry["answer"], str), f"{name}[{index}]: non-str answer"
            assert len(entry["question"]) < MAX_QUESTION_CHARS, f"{name}[{index}]: long"
            rows.append(
                {
                    "instruction": entry["question"],
                    "solution": entry["answer"],
                    "generator": name,
                    "seed": seed,
                    "index": index,
                    "config": config,
                }
            )
    return rows


def write_jsonl_atomic(rows: list[dict[str, Any]], path: Path) -> None:
    """Write rows as UTF-8 JSONL to a temporary file, then rename it over path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp_path = path.with_name(f".{path.name}.tmp")
    try:
        with tmp_path.open("w", encoding="utf-8", newline="\n") as handle:
            for row in rows:
                handle.write(json.dumps(row, ensure_ascii=False) + "\n")
        os.replace(tmp_path, path)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


def main(argv: list[str] | None = None) -> None:
    """Parse --output, generate the rows and write them."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--output",
        type=Path,
        default=DEFAULT_OUTPUT,
        help="where to write the JSONL file (default: %(default)s)",
    )
    args = parser.parse_args(argv)
    rows = generate_rows()
    write_jsonl_atomic(rows, args.output)
    print(f"wrote {len(rows)} rows to {args.output}")


if __name__ == "__main__":
    main()
