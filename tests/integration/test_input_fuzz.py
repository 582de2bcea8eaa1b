"""Property-based fuzzing of the input files of synth and judge: random types, nulls and strings in each column
give verdicts (exit 0, the bad rows rejected with a reason) or one clear error (exit 2), never a traceback.

synth runs the real transformers engine with a one-token budget; its texts are drawn from a small set, so
after the first examples the generation cache answers and most examples load no model.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from harness.artifacts.writer import ArtifactWriter
from harness.cli import app

TEXTS = ["What is 2 + 2?", "", " ", "\x00", "caf\u00e9 \U0001f4a5", "\n\n", "x" * 300, "</s><|im_end|>"]
SCALARS = st.one_of(
    st.none(),
    st.sampled_from(TEXTS),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.lists(st.sampled_from(TEXTS), max_size=2),
    st.dictionaries(st.sampled_from(["a", "b"]), st.sampled_from(TEXTS), max_size=2),
)
FUZZ = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
SYNTH_EXAMPLES = 8  # each may load the model once (a few seconds on a shared 2-core machine)


def assert_verdicts_or_one_error(result, out: Path) -> None:
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.stderr
    assert result.exit_code in (0, 2), result.stderr
    if result.exit_code == 2:
        errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
        assert len(errors) == 1, result.stderr
    else:
        table = pq.read_table(sorted(out.glob("*.parquet")))
        assert table.num_rows > 0
        for valid, reason in zip(table["valid"].to_pylist(), table["rejection_reason"].to_pylist(), strict=True):
            assert valid or reason, "a rejected row says why"


def _jsonable(value):
    return None if isinstance(value, float) and not math.isfinite(value) else value


@given(rows=st.lists(st.fixed_dictionaries({"instruction": SCALARS, "solution": SCALARS}), min_size=1, max_size=3))
@settings(FUZZ, max_examples=SYNTH_EXAMPLES)
@pytest.mark.slow
def test_synth_fuzzed_jsonl(rows, tmp_path_factory):
    work = tmp_path_factory.mktemp("fuzz")
    source = work / "rows.jsonl"
    source.write_text("".join(json.dumps({k: _jsonable(v) for k, v in r.items()}) + "\n" for r in rows))
    out = work / "out"
    argv = ["synth", "--task", "backfill", "--input", str(source), "--output", str(out), "--max-tokens", "1"]
    result = CliRunner().invoke(app, [*argv, "--engine", "transformers", "--threads", "1"])
    assert_verdicts_or_one_error(result, out)


ARROW_TYPES = st.sampled_from([pa.string(), pa.large_string(), pa.int64(), pa.float64(), pa.bool_(), pa.null()])


@given(data=st.data(), types=st.tuples(ARROW_TYPES, ARROW_TYPES))
@FUZZ
def test_judge_fuzzed_artifact(data, types, tmp_path_factory):
    """An artifact whose `answer` and `reference` columns have random types and values, judged by `exact`."""
    work = tmp_path_factory.mktemp("fuzz")
    count = data.draw(st.integers(1, 4))
    columns = {}
    for name, kind in zip(("answer", "reference"), types, strict=True):
        values = data.draw(st.lists(_values_of(kind), min_size=count, max_size=count))
        columns[name] = pa.array(values, kind)
    table = pa.table(
        {
            "record_id": [f"r{i}" for i in range(count)],
            "source_index": list(range(count)),
            "sample_idx": [0] * count,
            **columns,
        }
    )
    source = work / "artifact"
    with ArtifactWriter(source, table.schema, {"fuzz": True}).open({}) as writer:
        writer.commit(table, {})
    out = work / "judged"
    result = CliRunner().invoke(app, ["judge", "-i", str(source), "-o", str(out), "-j", "exact"])
    assert "Traceback" not in result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code in (0, 2), result.stderr
    if result.exit_code == 0:
        judged = pq.read_table(sorted(out.glob("*.parquet")))
        assert judged.num_rows == count
        assert all(r is not None for r in judged["judge_exact_reason"].to_pylist())


def _values_of(kind: pa.DataType):
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return st.one_of(st.none(), st.sampled_from(TEXTS), st.text(max_size=20))
    if pa.types.is_integer(kind):
        return st.one_of(st.none(), st.integers(-(2**63), 2**63 - 1))
    if pa.types.is_floating(kind):
        return st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True))
    if pa.types.is_boolean(kind):
        return st.one_of(st.none(), st.booleans())
    return st.none()
