"""One streaming pass over an artifact -> the numbers every report section needs.

Each record batch updates counters and is dropped, so memory is bounded by the batch and by the number of
distinct values counted (token lengths, scores, rules, subjects), never by the number of rows. Length
histograms count exact integer lengths (a Counter), which needs no bin edges before the data is seen.
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from harness.artifacts.reader import Artifact

# The reasoning part of each task's rows (several sections are summed) and its final answer, by column.
TRACE_COLUMNS = (("trace",), ("thought",), ("reasoning",), ("rationale",), ("planning", "monitoring", "evaluation"))
ANSWER_COLUMNS = ("answer", "output", "solution")
JUDGE_SCORE = re.compile(r"^judge_(?P<name>.+)_score$")
SCORE_DECIMALS = 3  # score keys are rounded so a judge with continuous scores still has few distinct keys

TokenCount = Callable[[list[str]], list[int]]  # a batch of texts -> their token counts


@dataclass
class Collected:
    """What one artifact holds, reduced to counts."""

    rows: int = 0
    valid: int | None = None  # rows whose `valid` is true; None without the column
    rules: dict[str, list[int]] = field(default_factory=dict)  # verdict name -> [checked, passed]
    lengths: dict[str, Counter[int]] = field(default_factory=dict)  # "trace"/"answer"/"completion" -> length -> rows
    length_unit: str = "tokens"  # of trace and answer: "tokens", or "words" when no tokenizer was at hand
    judge_scores: dict[str, Counter[str]] = field(default_factory=dict)  # judge -> score -> rows
    judge_undecided: Counter[str] = field(default_factory=Counter)  # judge -> rows with a null score
    prompt_tokens: int = 0
    completion_tokens: int = 0
    mmlu: list[dict[str, object]] = field(default_factory=list)  # eval: subject, correct, valid per question


def trace_columns(artifact: Artifact) -> tuple[str, ...]:
    return next((group for group in TRACE_COLUMNS if artifact.has(*group)), ())


def answer_column(artifact: Artifact) -> str | None:
    return next((c for c in ANSWER_COLUMNS if artifact.has(c)), None)


def judge_names(artifact: Artifact) -> list[str]:
    return [m["name"] for n in artifact.schema.names if (m := JUDGE_SCORE.match(n))]


def collect(artifact: Artifact, count: TokenCount | None, on_batch: Callable[[int], None] | None = None) -> Collected:
    """Read the columns the report needs, batch by batch. `count` counts tokens of trace and answer texts
    (None: whitespace-separated words); `on_batch(rows)` reports progress."""
    out = Collected(length_unit="tokens" if count is not None else "words")
    trace, answer, judges = trace_columns(artifact), answer_column(artifact), judge_names(artifact)
    columns = ["valid", "verdicts", "prompt_tokens", "completion_tokens", *trace]
    columns += [answer] if answer else []
    columns += [f"judge_{j}_score" for j in judges]
    eval_rows = artifact.kind == "eval"
    columns += ["subject", "correct"] if eval_rows else []
    for batch in artifact.batches(columns):
        out.rows += batch.num_rows
        _validity(out, batch)
        _tokens(out, batch)
        if trace:
            _count_lengths(out.lengths.setdefault("trace", Counter()), [batch.column(c) for c in trace], count)
        if answer:
            _count_lengths(out.lengths.setdefault("answer", Counter()), [batch.column(answer)], count)
        for name in judges:
            _judge(out, name, batch.column(f"judge_{name}_score"))
        if eval_rows:
            names = ["subject", "correct", "valid"]
            out.mmlu += pa.Table.from_batches([batch.select(names)]).to_pylist()
        if on_batch is not None:
            on_batch(batch.num_rows)
    return out


def _validity(out: Collected, batch: pa.RecordBatch) -> None:
    names = batch.schema.names
    if "valid" in names:
        out.valid = (out.valid or 0) + int(pc.sum(batch.column("valid")).as_py() or 0)
    if "verdicts" not in names:
        return
    flat = pc.list_flatten(batch.column("verdicts"))
    if len(flat) == 0:
        return
    table = pa.table({"name": pc.struct_field(flat, "name"), "passed": pc.struct_field(flat, "passed")})
    grouped = table.group_by("name").aggregate([("passed", "count"), ("passed", "sum")]).to_pylist()
    for row in grouped:
        checked_passed = out.rules.setdefault(row["name"], [0, 0])
        checked_passed[0] += row["passed_count"]
        checked_passed[1] += int(row["passed_sum"] or 0)


def _tokens(out: Collected, batch: pa.RecordBatch) -> None:
    names = batch.schema.names
    if "prompt_tokens" in names:
        out.prompt_tokens += int(pc.sum(batch.column("prompt_tokens")).as_py() or 0)
    if "completion_tokens" in names:
        column = batch.column("completion_tokens")
        out.completion_tokens += int(pc.sum(column).as_py() or 0)
        values = pc.drop_null(column)
        if len(values):
            counts = pc.value_counts(values).to_pylist()
            lengths = out.lengths.setdefault("completion", Counter())
            lengths.update({c["values"]: c["counts"] for c in counts})


def _count_lengths(counter: Counter[int], columns: list[pa.Array], count: TokenCount | None) -> None:
    """One length per row: the texts of `columns` counted and summed; a row whose texts are all null is skipped.
    Without a tokenizer, words are counted by Arrow in bulk (as `str.split()` would count them)."""
    if count is None:
        lengths = [_word_counts(c) for c in columns]
        present = functools.reduce(pc.or_, [pc.is_valid(c) for c in columns])
        totals = pc.filter(functools.reduce(pc.add, lengths), present)
        counter.update({c["values"]: c["counts"] for c in pc.value_counts(totals).to_pylist()})
        return
    totals: list[int | None] = [None] * len(columns[0])
    for column in columns:  # one tokenizer call per column and batch: the tokenizer batches in Rust
        texts = column.to_pylist()
        present = [i for i, t in enumerate(texts) if t is not None]
        for i, n in zip(present, count([texts[i] for i in present]), strict=True):
            totals[i] = (totals[i] or 0) + n
    counter.update(t for t in totals if t is not None)


def _word_counts(texts: pa.Array) -> pa.Array:
    """Whitespace-separated words per text (0 for null): Arrow's split leaves empty pieces at the edges and
    between runs of spaces, which are not words."""
    parts = pc.utf8_split_whitespace(texts)
    pieces = pc.list_flatten(parts)
    owners = pc.filter(pc.list_parent_indices(parts), pc.greater(pc.utf8_length(pieces), 0))
    return pa.array(np.bincount(owners.to_numpy(), minlength=len(texts)), pa.int64())


def _judge(out: Collected, name: str, scores: pa.Array) -> None:
    undecided = scores.null_count
    out.judge_undecided[name] += undecided
    scored = pc.round(pc.drop_null(scores), SCORE_DECIMALS)
    histogram = out.judge_scores.setdefault(name, Counter())
    if len(scored):
        histogram.update({_score_key(c["values"]): c["counts"] for c in pc.value_counts(scored).to_pylist()})


def _score_key(value: float) -> str:
    """1.0 -> "1", 0.5 -> "0.5": the form judge_summary.json's histogram keys take."""
    return f"{value:g}"
