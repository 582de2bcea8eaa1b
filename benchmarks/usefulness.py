"""`harness judge --judge usefulness` against raw forward passes on the same texts (target >= 0.9).

A synthetic backfill-like artifact (--questions questions, --traces traces each; instruction ~15 words, trace
~--trace-words words, solution ~20 words) is judged by `run_judge` with the usefulness judge on the default
model (transformers engine, one thread). The baseline sends the same sequences (each trace's text, and each
question's text without a trace, once) straight to the model: right-padded batches of 8, the whole logits,
log_softmax and a gather over the solution's positions, as one would write it by hand. Both sides use one
model object, loaded once before the clocks start (run_judge borrows it), so the difference is the stage's
own work (reading, planning, writing shards, the summary) and its way of batching. Runs alternate sides;
medians are reported, as rows per second and the ratio harness / raw.

    OMP_NUM_THREADS=1 python benchmarks/usefulness.py --questions 8 --traces 4 --repeats 3
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import harness.engines.session as plumbing  # noqa: E402
from harness.artifacts.writer import ArtifactWriter, base_provenance  # noqa: E402
from harness.config import JudgeConfig  # noqa: E402
from harness.engines.models import resolve_model  # noqa: E402
from harness.engines.scoring import ScoreRequest, token_ids  # noqa: E402
from harness.engines.transformers_engine import TransformersEngine  # noqa: E402
from harness.stages.judge import run_judge  # noqa: E402
from tests.integration.borrowed_engine import BorrowedEngine  # noqa: E402

BATCH = 8
WORDS = [
    "the",
    "value",
    "step",
    "sum",
    "first",
    "then",
    "because",
    "so",
    "answer",
    "check",
    "total",
    "number",
    "each",
    "next",
    "result",
    "equal",
    "gives",
]
SCHEMA = pa.schema(
    [
        pa.field("record_id", pa.string(), nullable=False),
        pa.field("source_index", pa.int64(), nullable=False),
        pa.field("sample_idx", pa.int32(), nullable=False),
        pa.field("instruction", pa.string()),
        pa.field("trace", pa.string()),
        pa.field("solution", pa.string()),
    ]
)


def write_artifact(folder: Path, questions: int, traces: int, trace_words: int) -> list[ScoreRequest]:
    rng = random.Random(0)

    def text(n: int) -> str:
        return " ".join(rng.choice(WORDS) for _ in range(n)) + "."

    rows, requests = [], []
    for q in range(questions):
        instruction, solution = text(15), text(20)
        requests.append(ScoreRequest(f"{instruction}\n\n", solution))
        for t in range(traces):
            trace = text(trace_words)
            rows.append({"record_id": f"q{q}", "source_index": q, "sample_idx": t, "instruction": instruction,
                         "trace": trace, "solution": solution})  # fmt: skip
            requests.append(ScoreRequest(f"{instruction}\n\n{trace}\n\n", solution))
    with ArtifactWriter(folder, SCHEMA, {"benchmark": "usefulness"}).open({}) as writer:
        writer.commit(pa.Table.from_pylist(rows, schema=SCHEMA), base_provenance())
    return requests


def raw(backend: TransformersEngine, requests: list[ScoreRequest]) -> list[float]:
    torch, model, tokenizer = backend._torch, backend.model, backend.tokenizer
    means = []
    for start in range(0, len(requests), BATCH):
        encoded = [token_ids(tokenizer, r) for r in requests[start : start + BATCH]]
        longest = max(len(ids) for ids, _ in encoded)
        ids = torch.full((len(encoded), longest), tokenizer.pad_token_id, dtype=torch.long)
        mask = torch.zeros_like(ids)
        for row, (seq, _) in enumerate(encoded):
            ids[row, : len(seq)] = torch.tensor(seq)
            mask[row, : len(seq)] = 1
        with torch.inference_mode():
            logp = torch.log_softmax(model(input_ids=ids, attention_mask=mask).logits.float(), -1)
        for row, (seq, split) in enumerate(encoded):
            picked = logp[row, split - 1 : len(seq) - 1].gather(-1, torch.tensor(seq[split:])[:, None])
            means.append(picked.mean().item())
    return means


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--questions", type=int, default=8)
    parser.add_argument("--traces", type=int, default=4)
    parser.add_argument("--trace-words", type=int, default=60)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    backend = TransformersEngine(resolve_model("default").path, threads=1)
    plumbing.make_engine = lambda *a, **k: BorrowedEngine(backend)
    rows = args.questions * args.traces
    times: dict[str, list[float]] = {"harness": [], "raw": []}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "in"
        requests = write_artifact(folder, args.questions, args.traces, args.trace_words)
        raw(backend, requests[:BATCH])  # warm-up
        for repeat in range(args.repeats):
            for side in times:
                started = time.perf_counter()
                if side == "harness":
                    out = str(Path(tmp) / f"out{repeat}")
                    run_judge(JudgeConfig(input=str(folder), output=out, judges=["usefulness"], cache=False))
                else:
                    raw(backend, requests)
                times[side].append(time.perf_counter() - started)
    rates = {side: rows / statistics.median(t) for side, t in times.items()}
    print(json.dumps({
        "rows": rows, "sequences": len(requests), "trace_words": args.trace_words,
        "harness_rows_per_s": round(rates["harness"], 2), "raw_rows_per_s": round(rates["raw"], 2),
        "ratio": round(rates["harness"] / rates["raw"], 3),
    }, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
