"""`harness decontam` against the bundled MMLU, and the gate train and push put in front of unchecked data."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from harness.artifacts.schemas import MESSAGES
from harness.artifacts.sources import InputError
from harness.artifacts.writer import ArtifactError, ArtifactWriter, base_provenance
from harness.cli import app
from harness.config import DecontamConfig, TrainConfig
from harness.evalsets.gate import decontam_status, require_checked
from harness.evalsets.mmlu import load_mmlu
from harness.stages.decontam import run_decontam
from harness.stages.train_rows import training_rows
from tests.unit.input_kinds import every_input_kind

SCHEMA = pa.schema(
    [
        pa.field("record_id", pa.string(), nullable=False),
        pa.field("source_index", pa.int64(), nullable=False),
        pa.field("instruction", pa.string()),
        pa.field("messages", MESSAGES),
    ]
)


def _mmlu_question(words: int = 20) -> tuple[str, str]:
    """An MMLU question of at least `words` words, and its id."""
    data = load_mmlu()
    for subject in data.subjects:
        for q in data.by_subject[subject]:
            if len(q.question.split()) >= words and q.question.isascii():
                return q.question, f"mmlu:{q.id}"
    raise AssertionError("no long question")


def _artifact(folder: Path, instructions: list[str], answers: list[str] | None = None) -> str:
    answers = answers or ["The answer is 4."] * len(instructions)
    rows = {
        "record_id": [f"r{i}" for i in range(len(instructions))],
        "source_index": list(range(len(instructions))),
        "instruction": instructions,
        "messages": [[{"role": "user", "content": "hi"}, {"role": "assistant", "content": a}] for a in answers],
    }
    with ArtifactWriter(folder, SCHEMA, {"test": "decontam"}).open({}) as writer:
        writer.commit(pa.table(rows, schema=SCHEMA), {**base_provenance(), "stage": "select"})
    return str(folder)


def _rows(folder: str) -> list[dict]:
    return pq.read_table(folder).to_pylist()


def test_exact_partial_and_unrelated_rows(tmp_path):
    question, item = _mmlu_question()
    words = question.split()
    exact = f"Please answer: {question.upper()}!!"  # case and punctuation do not hide it
    partial = " ".join(words[:12])  # n-1 words of it: not a 13-gram
    inside_answer = " ".join(words[1:14])  # 13 words, in the assistant's message
    unrelated = "Compute the sum of the first ten positive integers and explain each step."
    src = _artifact(tmp_path / "in", [exact, partial, "hello", unrelated], ["4", "4", inside_answer, "55"])
    cfg = DecontamConfig(input=src, output=str(tmp_path / "out"))
    summary = run_decontam(cfg)
    assert (summary.rows, summary.contaminated) == (4, 2)
    rows = _rows(cfg.output)
    assert [r["decontam_clean"] for r in rows] == [False, True, False, True]
    assert rows[0]["decontam_item"] == item and rows[0]["decontam_column"] == "instruction"
    assert rows[0]["decontam_ngram"] == " ".join(w.lower().strip("?.,") for w in words[:13])
    assert rows[0]["decontam_eval_set"] == "mmlu"
    assert rows[2]["decontam_column"] == "messages" and rows[2]["decontam_item"] == item
    assert rows[1]["decontam_item"] is None and rows[3]["decontam_ngram"] is None
    # the report shows the marks
    from harness.config import ReportConfig
    from harness.stages.report import run_report

    report = run_report(ReportConfig(dirs=[cfg.output], output=str(tmp_path / "report")))
    markdown = (Path(report.output) / "report.md").read_text()
    assert "## Usefulness and contamination" in markdown and "| 4 | 2 (50.0%) | mmlu: 2 |" in markdown
    # a smaller n catches the partial copy
    small = run_decontam(DecontamConfig(input=src, output=str(tmp_path / "out12"), ngram=12))
    assert small.contaminated == 3
    # --drop leaves them out; the rerun of a finished output does nothing
    dropped = DecontamConfig(input=src, output=str(tmp_path / "dropped"), drop=True)
    assert run_decontam(dropped).dropped == 2
    assert [r["record_id"] for r in _rows(dropped.output)] == ["r1", "r3"]
    again = run_decontam(dropped)
    assert (again.rows, again.skipped) == (0, 4)


def test_resume_after_a_kill_checks_each_row_once(tmp_path):
    question, _ = _mmlu_question()
    src = _artifact(tmp_path / "in", [question, "a", "b", question, "c"])
    cfg = DecontamConfig(input=src, output=str(tmp_path / "out"), batch_size=2)
    run_decontam(cfg)
    shards = sorted(Path(cfg.output).glob("*.parquet"))
    assert len(shards) == 3
    shards[-1].unlink()  # as if killed before the last batch: its marker goes too
    (Path(cfg.output) / ".harness" / "done" / f"{shards[-1].name}.json").unlink()
    again = run_decontam(cfg)
    assert (again.skipped, again.rows) == (4, 1)
    assert [r["record_id"] for r in _rows(cfg.output)] == ["r0", "r1", "r2", "r3", "r4"]


def test_local_eval_file_and_subsets(tmp_path):
    evals = tmp_path / "heldout.jsonl"
    secret = "the quick brown fox jumps over the lazy dog while seven wizards quietly hex the jovial king"
    evals.write_text(json.dumps({"problem": secret}) + "\n" + json.dumps({"problem": "short"}) + "\n")
    src = _artifact(tmp_path / "in", [f"Q: {secret}", "nothing here"])
    cfg = DecontamConfig(input=src, output=str(tmp_path / "out"), against=f"{evals},mmlu", subsets="anatomy")
    summary = run_decontam(cfg)
    assert summary.by_set == {str(evals): 1}
    assert _rows(cfg.output)[0]["decontam_item"] == f"{evals}#0"
    with pytest.raises(InputError, match="no text column"):
        bad = tmp_path / "bad.jsonl"
        bad.write_text(json.dumps({"x": secret}) + "\n")
        run_decontam(DecontamConfig(input=src, output=str(tmp_path / "o2"), against=str(bad)))


def test_train_and_push_gate(tmp_path):
    question, _ = _mmlu_question()
    src = _artifact(tmp_path / "in", [question, "What is 2 + 2?"])
    assert not decontam_status(src).checked
    with pytest.raises(InputError, match="never checked against the eval sets"):
        require_checked(src, False, "harness train sft --input")
    assert require_checked(src, True, "x").allowed_unchecked
    out = str(tmp_path / "clean")
    run_decontam(DecontamConfig(input=src, output=out))
    status = require_checked(out, False, "x")
    assert status.checked and status.contaminated == 1 and "mmlu (all 57 subjects)" in status.describe()
    local = tmp_path / "evals.jsonl"
    local.write_text(json.dumps({"text": question}) + "\n")
    only_local = str(tmp_path / "local")
    run_decontam(DecontamConfig(input=src, output=only_local, against=str(local)))
    with pytest.raises(InputError, match="not mmlu") as refused:
        require_checked(only_local, False, "x")
    # its advice works as printed: decontam what that run read, against mmlu (its own output is refused)
    advice = shlex.split(re.search(r"`harness (decontam [^`]*)`", str(refused.value)).group(1))
    result = CliRunner().invoke(app, [a if a != "DIR" else str(tmp_path / "again") for a in advice])
    assert result.exit_code == 0, result.output
    assert require_checked(str(tmp_path / "again"), False, "x").checked
    # training takes only the clean row
    rows = training_rows(TrainConfig(method="sft", input=out, output="o"))
    assert (rows.used, rows.skipped_contaminated) == (1, 1)
    rows.close()
    # the CLI refuses before any model loads, and says what to do
    result = CliRunner().invoke(app, ["train", "sft", "--input", src, "--output", str(tmp_path / "m")])
    assert result.exit_code == 2 and "--allow-unchecked" in result.output
    result = CliRunner().invoke(app, ["push", src, "--repo-id", "me/x", "--to-dir", str(tmp_path / "p0")])
    assert result.exit_code == 2 and "never checked" in result.output
    # push's advice, run as printed (DIR filled in): decontam, then the same push on its output
    advice = re.findall(r"`harness ([a-z]+ [^`]+)`", result.output)
    assert [a.split()[0] for a in advice] == ["decontam", "push"], result.output
    for command in advice:
        done = CliRunner().invoke(app, [str(tmp_path / "advised") if a == "DIR" else a for a in shlex.split(command)])
        assert done.exit_code == 0, done.output
    assert pq.read_table(tmp_path / "p0" / "data").num_rows == 1  # the clean row, published
    # push publishes the clean rows and says so on the card
    result = CliRunner().invoke(app, ["push", out, "--repo-id", "me/x", "--to-dir", str(tmp_path / "p")])
    assert result.exit_code == 0, result.output
    card = (tmp_path / "p" / "README.md").read_text()
    assert "## Decontamination" in card and "checked against mmlu" in card and "1 contaminated rows left out" in card
    assert pq.read_table(tmp_path / "p" / "data").num_rows == 1


def test_every_input_kind_synth_reads(tmp_path):
    """JSONL, CSV, Parquet, a folder of Parquet files and a saved dataset: users check their own data."""
    question = "the quick brown fox jumps over the lazy dog while seven wizards quietly hex the jovial king"
    evals = tmp_path / "heldout.jsonl"  # a small eval set: quick to index ten times
    evals.write_text(json.dumps({"text": question}) + "\n")
    item = f"{evals}#0"
    rows = [{"instruction": question, "n": None}, {"instruction": "What is 2 + 2?", "n": 3}]  # n: null, then int
    csv = "instruction,n\n" + "".join(f'"{r["instruction"]}",{r["n"] or ""}\n' for r in rows)
    inputs = every_input_kind(tmp_path, rows, csv)
    for kind, path in inputs.items():
        out = tmp_path / f"out-{kind}"
        summary = run_decontam(DecontamConfig(input=str(path), output=str(out), batch_size=1, against=str(evals)))
        marked = _rows(str(out))
        assert (summary.rows, summary.contaminated) == (2, 1), kind
        assert [r["decontam_item"] for r in marked] == [item, None], kind
        assert [r["instruction"] for r in marked] == [question, "What is 2 + 2?"], kind
        assert decontam_status(out).checked_input == str(path), kind
        again = DecontamConfig(input=str(path), output=str(out), batch_size=1, against=str(evals))
        assert run_decontam(again).skipped == 2, kind  # resumed: nothing left to check
    inputs["jsonl"].write_text(json.dumps({"instruction": "changed"}) + "\n")
    changed = DecontamConfig(input=str(inputs["jsonl"]), output=str(tmp_path / "out-jsonl"), against=str(evals))
    with pytest.raises(ArtifactError, match="other"):  # a changed file is another input, not a resume
        run_decontam(changed.model_copy(update={"batch_size": 1}))


def test_an_lm_eval_tasks_local_data(tmp_path):
    pytest.importorskip("lm_eval")
    secret = "a farmer crosses a river with a wolf a goat and a cabbage in a boat that holds only two things"
    data = tmp_path / "tasks" / "riddles.jsonl"
    data.parent.mkdir()
    data.write_text(json.dumps({"question": secret, "answer": "seven trips"}) + "\n")
    task = {
        "task": "local_riddles",
        "dataset_path": "json",
        "dataset_kwargs": {"data_files": {"test": str(data)}, "cache_dir": str(tmp_path / "hf")},
        "test_split": "test",
        "output_type": "generate_until",
        "doc_to_text": "{{question}}",
        "doc_to_target": "{{answer}}",
        "metric_list": [{"metric": "exact_match"}],
    }
    (tmp_path / "tasks" / "riddles.yaml").write_text(json.dumps(task))  # JSON is YAML
    src = _artifact(tmp_path / "in", [f"Riddle: {secret}?", "nothing"])
    cfg = DecontamConfig(
        input=src, output=str(tmp_path / "out"), against=f"lm-eval:{tmp_path / 'tasks' / 'riddles.yaml'}"
    )
    summary = run_decontam(cfg)
    assert summary.contaminated == 1 and _rows(cfg.output)[0]["decontam_item"] == "local_riddles#0"
