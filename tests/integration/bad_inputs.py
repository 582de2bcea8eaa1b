"""The bad-input corpus: every command, given what a new user (or a broken file) gives it.

Each case is a command line with placeholders, the files it needs, and a fragment that the one error line must
contain (the file, row, column or flag it is about). The placeholders name files under the test's work folder:

    {work}      the work folder            {star}   a synth (star) artifact, hand-written (no model)
    {judged}    star judged by `exact`     {sft}    a chat (messages) JSONL for training
    {file}      an existing plain file     {copy}   a fresh copy of {star} (an existing artifact as --output)

`FILES` maps a file name to its bytes (or a function of the work folder that creates it); a case lists the
names it uses, and they are made in its work folder before it runs.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq


@dataclass(frozen=True)
class Case:
    id: str
    argv: str  # split on spaces after the placeholders are filled
    names: str  # what the error line must contain
    files: tuple[str, ...] = field(default=())


GOOD_ROW = {"instruction": "What is 2 + 2?", "solution": "4"}
HUGE = "x" * (10 * 1024 * 1024)  # a 10 MB field


def _jsonl(*rows: object) -> bytes:
    return b"".join(json.dumps(r).encode() + b"\n" for r in rows)


def _parquet(table: pa.Table) -> Callable[[Path], None]:
    def make(path: Path) -> None:
        pq.write_table(table, path)

    return make


def _corrupt(source: str, how: str) -> Callable[[Path], None]:
    """A copy of the artifact `source` (under the work folder) whose first shard is truncated or altered."""

    def make(path: Path) -> None:
        shutil.copytree(path.parent / source, path)
        shard = path / "part-00000.parquet"
        data = bytearray(shard.read_bytes())
        if how == "truncate":
            data = data[: len(data) // 2]
        else:  # flip one byte in the middle of the data pages: the file still parses
            data[len(data) // 3] ^= 0xFF
        shard.write_bytes(bytes(data))

    return make


def _foreign_parquet_in(source: str | None) -> Callable[[Path], None]:
    """A folder (a copy of an artifact, or a new one) holding a Parquet file the harness did not write."""

    def make(path: Path) -> None:
        if source:
            shutil.copytree(path.parent / source, path)
        else:
            path.mkdir()
        pq.write_table(pa.table({"instruction": ["q"], "solution": ["a"]}), path / "part-00099.parquet")

    return make


def _uncommitted(path: Path) -> None:
    shutil.copytree(path.parent / "star", path)
    (path / ".harness" / "done" / "part-00000.parquet.json").unlink()


def _rescored(path: Path) -> None:
    """`harness rescore` of the star artifact: an input that was rescored already."""
    from harness.config import RescoreConfig
    from harness.stages.rescore import run_rescore

    run_rescore(RescoreConfig(input=str(path.parent / "star"), output=str(path)))


def _pairs_artifact(path: Path) -> None:
    """A pairs artifact (prompt, chosen, rejected) as star writes one: no verdicts to re-run."""
    from harness.artifacts.writer import ArtifactWriter

    table = pa.table({"record_id": ["r"], "prompt": ["q"], "chosen": ["a"], "rejected": ["b"]})
    with ArtifactWriter(path, table.schema, {"derived": "pairs"}).open({}) as writer:
        writer.commit(table, {})


def _llm_judged(path: Path) -> None:
    """The judged star artifact as if judged by the `score` LLM judge alone (its settings and columns say so)."""
    from harness.artifacts.writer import ArtifactWriter, read_provenance

    source = path.parent / "judged"
    shard = source / "part-00000.parquet"
    table = pq.read_table(shard).replace_schema_metadata(None)
    table = table.rename_columns([c.replace("judge_exact_", "judge_score_") for c in table.column_names])
    provenance = read_provenance(shard)
    provenance["config"] = {**provenance["config"], "judges": ["score"]}
    with ArtifactWriter(path, table.schema, {"judges": ["score"]}).open({}) as writer:
        writer.commit(table, provenance)


def _folder_with(name: str, data: bytes) -> Callable[[Path], None]:
    def make(path: Path) -> None:
        path.mkdir()
        (path / name).write_bytes(data)

    return make


FILES: dict[str, bytes | Callable[[Path], None]] = {
    "empty.jsonl": b"",
    "blank.jsonl": b"\n\n  \n",
    "empty.csv": b"",
    "broken-middle.jsonl": _jsonl(GOOD_ROW) + b'{"instruction": "q", "solution": \n' + _jsonl(GOOD_ROW),
    "array-line.jsonl": _jsonl(GOOD_ROW, ["instruction", "solution"]),
    "scalar-line.jsonl": _jsonl(GOOD_ROW, 42),
    "latin1.jsonl": _jsonl(GOOD_ROW) + '{"instruction": "caf\u00e9", "solution": "x"}\n'.encode("latin-1"),
    "latin1.csv": b"instruction,solution\n" + "caf\u00e9,x\n".encode("latin-1"),
    "fields.csv": b"instruction,solution\nq,a\nq,a,extra\n",
    "open-quote.csv": b'instruction,solution\nq,a\n"unterminated,a\nq,a\n',
    "no-solution.jsonl": _jsonl({"instruction": "q"}),
    "misspelled.jsonl": _jsonl({"instruction": "q", "solutoin": "a"}),
    "misspelled.csv": b"instrution,solution\nq,a\n",
    "huge-then-broken.jsonl": _jsonl({"instruction": HUGE, "solution": "a"}) + b"{not json\n",
    "notes.txt": b"instruction: q\nsolution: a\n",
    "garbage.parquet": b"PAR1 this is not parquet PAR1",
    "int-type.parquet": _parquet(pa.table({"instruction": [1, 2], "solution": ["a", "b"]})),
    "null-type.parquet": _parquet(pa.table({"instruction": pa.nulls(2), "solution": ["a", "b"]})),
    "list-type.parquet": _parquet(pa.table({"instruction": [["q"], ["r"]], "solution": ["a", "b"]})),
    "no-messages.jsonl": _jsonl({"text_x": "hello"}),
    "messages-not-list.jsonl": _jsonl({"messages": "hello"}),
    "empty-folder": lambda p: p.mkdir(),
    "txt-folder": _folder_with("rows.txt", b"hello\n"),
    "garbage-folder": _folder_with("part-00000.parquet", b"not parquet at all"),
    "plain-parquet-folder": _folder_with("data.parquet", b""),  # replaced below with a real table
    "star-truncated": _corrupt("star", "truncate"),
    "star-altered": _corrupt("star", "alter"),
    "judged-altered": _corrupt("judged", "alter"),
    "star-foreign": _foreign_parquet_in("star"),
    "foreign-only": _foreign_parquet_in(None),
    "star-uncommitted": _uncommitted,
    "star-rescored": _rescored,
    "pairs-artifact": _pairs_artifact,
    "llm-judged": _llm_judged,
    "bad.yaml": b"task: [unclosed\n",
    "list.yaml": b"- task\n- backfill\n",
    "typo.yaml": b"temprature: 0.5\n",
    "wrongtype.yaml": b"limit: many\n",
    "latin1.yaml": "task: caf\u00e9\n".encode("latin-1"),
    "recipe-typo.yaml": b"learning_rat: 0.1\n",
    "recipe-bad.yaml": b"{{{\n",
    "mmlu-missing-cols.jsonl": _jsonl({"question": "q"}),
    "not-a-model": lambda p: p.mkdir(),
    "file-model.bin": b"\x00" * 16,
    "pipe-command.yaml": b"stages: [{name: a, command: synthesize}]\n",
    "pipe-setting.yaml": b"stages: [{name: a, command: synth, settings: {temprature: 0.5}}]\n",
    "pipe-variable.yaml": b"stages: [{name: a, command: synth, settings: {input: '${nothing}'}}]\n",
    "pipe-key.yaml": b"stages: [{name: a, command: synth}]\nround: 2\n",
    "other-run": _folder_with("pipeline.json", b'{"pipeline": "backfill", "stages": []}'),
}


def _plain_parquet_folder(path: Path) -> None:
    path.mkdir()
    pq.write_table(pa.table({"instruction": ["q"], "solution": ["a"]}), path / "part-00000.parquet")


FILES["plain-parquet-folder"] = _plain_parquet_folder


def synth_cases() -> list[Case]:
    s = "synth --task backfill --output {work}/out"
    w = "{work}/"
    inputs = [
        ("missing-file", "--input nothere.jsonl", "nothere.jsonl", ()),
        ("missing-abs", "--input {work}/nothere.jsonl", "nothere.jsonl", ()),
        ("empty-jsonl", f"--input {w}empty.jsonl", "empty.jsonl: file has no rows", ("empty.jsonl",)),
        ("blank-jsonl", f"--input {w}blank.jsonl", "blank.jsonl: file has no rows", ("blank.jsonl",)),
        ("empty-csv", f"--input {w}empty.csv", "empty.csv: file is empty", ("empty.csv",)),
        ("broken-line", f"--input {w}broken-middle.jsonl", "line 2 (row 1)", ("broken-middle.jsonl",)),
        ("array-line", f"--input {w}array-line.jsonl", "line 2 (row 1) is a JSON list", ("array-line.jsonl",)),
        ("scalar-line", f"--input {w}scalar-line.jsonl", "line 2 (row 1) is a JSON int", ("scalar-line.jsonl",)),
        ("latin1-jsonl", f"--input {w}latin1.jsonl", "line 2 is not UTF-8", ("latin1.jsonl",)),
        ("latin1-csv", f"--input {w}latin1.csv", "line 2 is not UTF-8", ("latin1.csv",)),
        ("csv-field-count", f"--input {w}fields.csv", "row 1 (line 3) has 3 fields", ("fields.csv",)),
        ("csv-open-quote", f"--input {w}open-quote.csv", "open-quote.csv: row 1", ("open-quote.csv",)),
        ("missing-column", f"--input {w}no-solution.jsonl", "column 'solution'", ("no-solution.jsonl",)),
        ("misspelled-column", f"--input {w}misspelled.jsonl", "did you mean 'solutoin'", ("misspelled.jsonl",)),
        ("misspelled-csv", f"--input {w}misspelled.csv", "did you mean 'instrution'", ("misspelled.csv",)),
        ("huge-then-broken", f"--input {w}huge-then-broken.jsonl", "line 2 (row 1)", ("huge-then-broken.jsonl",)),
        ("unknown-format", f"--input {w}notes.txt", "unknown input format '.txt'", ("notes.txt",)),
        ("garbage-parquet", f"--input {w}garbage.parquet", "not a readable Parquet", ("garbage.parquet",)),
        ("int-column", f"--input {w}int-type.parquet", "column 'instruction'", ("int-type.parquet",)),
        ("null-column", f"--input {w}null-type.parquet", "column 'instruction'", ("null-type.parquet",)),
        ("list-column", f"--input {w}list-type.parquet", "column 'instruction'", ("list-type.parquet",)),
        ("empty-folder", f"--input {w}empty-folder", "no *.parquet", ("empty-folder",)),
        ("txt-folder", f"--input {w}txt-folder", "no *.parquet", ("txt-folder",)),
        ("garbage-folder", f"--input {w}garbage-folder", "not a readable Parquet", ("garbage-folder",)),
        ("wrong-kind-artifact", "--input {star}", "column 'instruction'", ()),
        (
            "truncated-shard",
            f"--task star --input {w}star-truncated",
            "part-00000.parquet: corrupted",
            ("star-truncated",),
        ),
        ("altered-shard", f"--task star --input {w}star-altered", "part-00000.parquet: corrupted", ("star-altered",)),
    ]
    flags = [
        ("unknown-flag", "--limt 3", "--limt"),
        ("misspelled-flag", "--temprature 0.5", "--temprature"),
        ("limit-negative", "--limit -1", "limit"),
        ("limit-zero", "--limit 0", "limit"),
        ("limit-text", "--limit ten", "--limit"),
        ("n-zero", "--n 0", "n must be"),
        ("n-negative", "--n -3", "n must be"),
        ("temperature-nan", "--temperature nan", "temperature"),
        ("temperature-negative", "--temperature -1", "temperature"),
        ("temperature-text", "--temperature hot", "--temperature"),
        ("top-p-above-one", "--top-p 2", "top_p"),
        ("top-p-nan", "--top-p nan", "top_p"),
        ("min-p-negative", "--min-p -1", "min_p"),
        ("max-tokens-zero", "--max-tokens 0", "max_tokens"),
        ("batch-size-zero", "--batch-size 0", "batch_size"),
        ("shard-out-of-range", "--shard 3/2", "shard"),
        ("shard-text", "--shard half", "shard"),
        ("threads-zero", "--threads 0", "threads"),
        ("unknown-task", "--task backfil", "backfil"),
        ("unknown-engine", "--engine llamacpp", "llamacpp"),
        ("col-malformed", "--col question", "--col"),
        ("col-twice", "--col instruction=a --col instruction=b", "--col"),
        ("col-unknown-logical", "--col nosuch=instruction", "nosuch"),
        ("system-prompt-missing-file", "--system-prompt @{work}/nothere.txt", "nothere.txt"),
        ("model-missing", "--model {work}/no-model-here", "no-model-here"),
        ("model-not-a-model", "--model {work}/not-a-model", "not-a-model"),
    ]
    outputs = [
        ("output-is-file", "--output {file}", "is a file"),
        ("output-other-run", "--output {copy}", "holds a run with other settings"),
        ("output-foreign-parquet", "--output {work}/foreign-only", "part-00099.parquet"),
        ("output-inside-file", "--output {file}/sub", "Not a directory"),
    ]
    config = [
        ("config-missing", "--config {work}/nothere.yaml", "nothere.yaml"),
        ("config-bad-yaml", "--config {work}/bad.yaml", "bad.yaml"),
        ("config-not-mapping", "--config {work}/list.yaml", "list.yaml"),
        ("config-unknown-key", "--config {work}/typo.yaml", "temprature"),
        ("config-wrong-type", "--config {work}/wrongtype.yaml", "limit"),
        ("config-not-utf8", "--config {work}/latin1.yaml", "latin1.yaml"),
    ]
    needs = {"model-not-a-model": ("not-a-model",), "output-foreign-parquet": ("foreign-only",)}
    needs |= {c[0]: (c[1].split("/")[-1],) for c in config if c[0] != "config-missing"}
    cases = [Case(f"synth-{i}", f"{s} {a}", n, f) for i, a, n, f in inputs]
    cases += [Case(f"synth-{i}", f"{s} --input sample {a}", n, needs.get(i, ())) for i, a, n in flags + config]
    cases += [Case(f"synth-{i}", f"synth --input sample {a}", n, needs.get(i, ())) for i, a, n in outputs]
    return cases


def judge_cases() -> list[Case]:
    j = "judge --output {work}/out --judge exact"
    return [
        Case("judge-input-missing", f"{j} --input {{work}}/nothere", "nothere: no such file or folder"),
        Case("judge-input-file", f"{j} --input {{file}}", "plain.txt: unknown input format"),
        Case("judge-input-empty", f"{j} --input {{work}}/empty-folder", "no *.parquet", ("empty-folder",)),
        Case("judge-input-txt", f"{j} --input {{work}}/txt-folder", "no *.parquet", ("txt-folder",)),
        Case("judge-input-garbage", f"{j} --input {{work}}/garbage-folder", "not a readable", ("garbage-folder",)),
        Case(
            "judge-input-plain",
            f"{j} --input {{work}}/plain-parquet-folder",
            "--col prediction=COLUMN",
            ("plain-parquet-folder",),
        ),
        Case("judge-truncated", f"{j} --input {{work}}/star-truncated", "corrupted", ("star-truncated",)),
        Case("judge-altered", f"{j} --input {{work}}/star-altered", "corrupted", ("star-altered",)),
        Case("judge-no-judge", "judge --input {star} --output {work}/out", "--judge"),
        Case("judge-unknown-judge", "judge --input {star} --output {work}/out --judge exactt", "exactt"),
        Case("judge-regex-without-pattern", "judge --input {star} --output {work}/out --judge regex", "regex"),
        Case("judge-regex-invalid", "judge --input {star} --output {work}/out --judge regex --regex (", "regex"),
        Case("judge-col-malformed", f"{j} --input {{star}} --col prediction", "--col"),
        Case("judge-col-unknown-column", f"{j} --input {{star}} --col prediction=nosuch", "nosuch"),
        Case("judge-col-unknown-logical", f"{j} --input {{star}} --col nosuch=answer", "nosuch"),
        Case(
            "judge-source-missing", f"{j} --input {{star}} --col gold=source:x --source {{work}}/no.jsonl", "no.jsonl"
        ),
        Case("judge-output-file", "judge --input {star} --judge exact --output {file}", "is a file"),
        Case("judge-output-other-run", "judge --input {star} --judge exact --output {copy}", "other settings"),
        Case("judge-batch-size-zero", f"{j} --input {{star}} --batch-size 0", "batch_size"),
        Case("judge-limit-zero", f"{j} --input {{star}} --limit 0", "limit"),
        Case("judge-unknown-flag", f"{j} --input {{star}} --judges exact", "--judges"),
        Case("judge-score-range", "judge --input {star} -o {work}/out -j score --score-low 5 --score-high 1", "score"),
        Case("judge-unknown-engine", "judge --input {star} -o {work}/out -j score --engine llamacpp", "llamacpp"),
        Case("judge-config-typo", f"{j} --input {{star}} --config {{work}}/typo.yaml", "temprature", ("typo.yaml",)),
        Case("judge-config-bad", f"{j} --input {{star}} --config {{work}}/bad.yaml", "bad.yaml", ("bad.yaml",)),
    ]


def select_cases() -> list[Case]:
    s = "select best-of-n --output {work}/out"
    return [
        Case("select-unknown-mode", "select best-of-m --input {judged} --output {work}/out", "mode"),
        Case("select-input-missing", f"{s} --input {{work}}/nothere", "nothere"),
        Case("select-input-file", f"{s} --input {{file}}", "plain.txt: unknown input format"),
        Case("select-input-not-judged", f"{s} --input {{star}}", "candidate_idx"),
        Case("select-input-altered", f"{s} --input {{work}}/judged-altered", "corrupted", ("judged-altered",)),
        Case("select-unknown-judge", f"{s} --input {{judged}} --judge nosuch", "nosuch"),
        Case("select-threshold-nan", "select pairs --input {judged} -o {work}/out --threshold nan", "threshold"),
        Case("select-threshold-text", "select pairs --input {judged} -o {work}/out --threshold high", "--threshold"),
        Case("select-output-file", "select best-of-n --input {judged} --output {file}", "is a file"),
        Case("select-output-is-input", "select best-of-n --input {judged} --output {judged}", "judged"),
        Case("select-output-other-run", "select best-of-n --input {judged} --output {copy}", "other settings"),
        Case("select-unknown-flag", f"{s} --input {{judged}} --treshold 1", "--treshold"),
        Case("select-config-typo", f"{s} --input {{judged}} --config {{work}}/typo.yaml", "temprature", ("typo.yaml",)),
        Case("select-no-input", "select best-of-n --output {work}/out", "--input"),
    ]


def eval_cases() -> list[Case]:
    e = "eval mmlu --output {work}/out --subsets college_mathematics"
    return [
        Case("eval-unknown-subset", "eval mmlu --output {work}/out --subsets college_math", "college_math"),
        Case("eval-empty-subsets", "eval mmlu --output {work}/out --subsets ,", "subset"),
        Case("eval-limit-zero", f"{e} --limit 0", "limit"),
        Case("eval-limit-negative", f"{e} --limit -1", "limit"),
        Case("eval-limit-text", f"{e} --limit all", "--limit"),
        Case("eval-unknown-mode", f"{e} --mode multiple-choice", "mode"),
        Case("eval-unknown-task", f"{e} --mode generative --task freeform", "freeform"),
        Case("eval-unknown-engine", f"{e} --engine llamacpp", "llamacpp"),
        Case("eval-temperature-nan", f"{e} --mode generative --task structured --temperature nan", "temperature"),
        Case("eval-max-tokens-zero", f"{e} --mode generative --task structured --max-tokens 0", "max_tokens"),
        Case("eval-dataset-missing", f"{e} --dataset {{work}}/nothere.jsonl", "nothere.jsonl"),
        Case(
            "eval-dataset-columns",
            f"{e} --dataset {{work}}/mmlu-missing-cols.jsonl",
            "mmlu-missing-cols.jsonl",
            ("mmlu-missing-cols.jsonl",),
        ),  # fmt: skip
        Case(
            "eval-dataset-garbage", f"{e} --dataset {{work}}/garbage.parquet", "garbage.parquet", ("garbage.parquet",)
        ),
        Case("eval-output-file", "eval mmlu --subsets college_mathematics --output {file}", "is a file"),
        Case("eval-output-other-artifact", "eval mmlu --subsets college_mathematics --output {copy}", "copy"),
        Case("eval-model-missing", f"{e} --model {{work}}/no-model-here", "no-model-here"),
        Case("eval-unknown-flag", f"{e} --subset college_mathematics", "--subset"),
        Case("eval-config-typo", f"{e} --config {{work}}/typo.yaml", "temprature", ("typo.yaml",)),
        Case("eval-config-missing", f"{e} --config {{work}}/nothere.yaml", "nothere.yaml"),
        Case("eval-unknown-benchmark", "eval gsm8k --output {work}/out", "gsm8k"),
    ]


def train_cases() -> list[Case]:
    t = "train sft --allow-unchecked --output {work}/model --max-steps 1"
    return [
        Case("train-input-missing", f"{t} --input {{work}}/nothere.jsonl", "nothere.jsonl"),
        Case("train-input-empty", f"{t} --input {{work}}/empty.jsonl", "empty.jsonl", ("empty.jsonl",)),
        Case("train-input-broken", f"{t} --input {{work}}/broken-middle.jsonl", "line 2", ("broken-middle.jsonl",)),
        Case("train-input-latin1", f"{t} --input {{work}}/latin1.jsonl", "not UTF-8", ("latin1.jsonl",)),
        Case(
            "train-input-no-messages",
            f"{t} --input {{work}}/no-messages.jsonl",
            "no-messages.jsonl",
            ("no-messages.jsonl",),
        ),  # fmt: skip
        Case("train-input-garbage", f"{t} --input {{work}}/garbage.parquet", "garbage.parquet", ("garbage.parquet",)),
        Case("train-input-file-not-artifact", f"{t} --input {{file}}", "unknown input format"),
        Case("train-input-truncated", f"{t} --input {{work}}/star-truncated", "corrupted", ("star-truncated",)),
        Case("train-dpo-not-pairs", "train dpo --allow-unchecked --output {work}/model --input {sft}", "chosen"),
        Case("train-rank-not-pairs", "train rank --allow-unchecked --output {work}/model --input {sft}", "chosen"),
        Case(
            "train-max-steps-zero",
            "train sft --allow-unchecked --output {work}/model --input {sft} --max-steps 0",
            "max_steps",
        ),
        Case("train-lr-nan", f"{t} --input {{sft}} --learning-rate nan", "learning_rate"),
        Case("train-lr-negative", f"{t} --input {{sft}} --learning-rate -1", "learning_rate"),
        Case("train-batch-size-zero", f"{t} --input {{sft}} --batch-size 0", "batch_size"),
        Case("train-max-length-zero", f"{t} --input {{sft}} --max-length 0", "max_length"),
        Case("train-limit-zero", f"{t} --input {{sft}} --limit 0", "limit"),
        Case("train-recipe-missing", f"{t} --input {{sft}} --recipe {{work}}/nothere.yaml", "nothere.yaml"),
        Case("train-recipe-unknown-name", f"{t} --input {{sft}} --recipe no-such-recipe", "no-such-recipe"),
        Case(
            "train-recipe-typo",
            f"{t} --input {{sft}} --recipe {{work}}/recipe-typo.yaml",
            "learning_rat",
            ("recipe-typo.yaml",),
        ),  # fmt: skip
        Case(
            "train-recipe-bad-yaml",
            f"{t} --input {{sft}} --recipe {{work}}/recipe-bad.yaml",
            "recipe-bad.yaml",
            ("recipe-bad.yaml",),
        ),  # fmt: skip
        Case(
            "train-output-file",
            "train sft --allow-unchecked --input {sft} --max-steps 1 --output {file}",
            "Not a directory",
        ),
        Case("train-model-missing", f"{t} --input {{sft}} --model {{work}}/no-model-here", "no-model-here"),
        Case("train-unknown-method", "train ppo --input {sft} --output {work}/model", "ppo"),
        Case("train-unknown-flag", f"{t} --input {{sft}} --epochs 3", "--epochs"),
        Case("train-no-output", "train sft --input {sft}", "--output"),
        Case("train-not-decontaminated", "train sft --input {sft} --output {work}/model", "harness decontam"),
        Case(
            "train-truncated-gate",
            "train sft --input {work}/star-truncated --output {work}/m",
            "corrupted",
            ("star-truncated",),
        ),  # fmt: skip
    ]


def rescore_cases() -> list[Case]:
    r = "rescore --output {work}/out"
    return [
        Case("rescore-input-missing", f"{r} --input {{work}}/nothere", "nothere: no such artifact folder"),
        Case("rescore-input-file", f"{r} --input {{file}}", "is a file, not an artifact folder"),
        Case("rescore-not-artifact", f"{r} --input {{work}}/txt-folder", "not a harness artifact", ("txt-folder",)),
        Case("rescore-truncated", f"{r} --input {{work}}/star-truncated", "corrupted", ("star-truncated",)),
        Case("rescore-no-verdicts", f"{r} --input {{work}}/pairs-artifact", "a pairs artifact", ("pairs-artifact",)),
        Case("rescore-llm-judged", f"{r} --input {{work}}/llm-judged", "nothing to rescore", ("llm-judged",)),
        Case("rescore-rescored", f"{r} --input {{work}}/star-rescored", "already rescored", ("star-rescored",)),
        Case("rescore-output-inside", "rescore --input {star} --output {star}/out", "inside it"),
        Case("rescore-output-file", "rescore --input {star} --output {file}", "is a file"),
        Case("rescore-output-other-run", "rescore --input {judged} --output {copy}", "other settings"),
        Case("rescore-batch-size-zero", f"{r} --input {{star}} --batch-size 0", "batch_size"),
        Case("rescore-no-input", r, "--input"),
        Case("rescore-unknown-flag", f"{r} --input {{star}} --judge exact", "--judge"),
    ]


def loop_cases() -> list[Case]:
    lp = "loop star --input sample --output {work}/loop"
    return [
        Case("loop-rounds-zero", f"{lp} --rounds 0", "rounds"),
        Case("loop-input-missing", "loop star --input {work}/nothere.jsonl --output {work}/loop", "nothere.jsonl"),
        Case(
            "loop-input-broken",
            "loop star --input {work}/broken-middle.jsonl --output {work}/loop",
            "line 2",
            ("broken-middle.jsonl",),
        ),  # fmt: skip
        Case("loop-output-file", "loop star --input sample --output {file}", "exists and is not a folder"),
        Case("loop-unknown-method", f"{lp} --method ppo", "method"),
        Case("loop-n-zero", f"{lp} --n 0", "n"),
        Case("loop-temperature-nan", f"{lp} --temperature nan", "temperature"),
        Case("loop-limit-zero", f"{lp} --limit 0", "limit"),
        Case("loop-unknown-flag", f"{lp} --round 2", "--round"),
        Case("loop-config-typo", f"{lp} --config {{work}}/typo.yaml", "temprature", ("typo.yaml",)),
        Case("loop-unknown-kind", "loop reinforce --input sample --output {work}/loop", "reinforce"),
        Case("loop-tr-rounds-zero", "loop thought-ranking --input sample --output {work}/loop --rounds 0", "rounds"),
        Case("loop-tr-judge-engine", "loop thought-ranking --input sample --output {work}/loop --judge-engine x", "x"),
    ]


def report_cases() -> list[Case]:
    r = "report --output {work}/report"
    return [
        Case("report-missing", f"{r} {{work}}/nothere", "nothere"),
        Case("report-file", f"{r} {{file}}", "is a file, not an artifact folder"),
        Case("report-empty-folder", f"{r} {{work}}/empty-folder", "not a harness artifact", ("empty-folder",)),
        Case(
            "report-plain-parquet",
            f"{r} {{work}}/plain-parquet-folder",
            "not a harness artifact",
            ("plain-parquet-folder",),
        ),  # fmt: skip
        Case("report-truncated", f"{r} {{work}}/star-truncated", "corrupted", ("star-truncated",)),
        Case("report-altered", f"{r} {{work}}/star-altered", "corrupted", ("star-altered",)),
        Case("report-uncommitted", f"{r} {{work}}/star-uncommitted", "no completion marker", ("star-uncommitted",)),
        Case("report-foreign-shard", f"{r} {{work}}/star-foreign", "part-00099.parquet", ("star-foreign",)),
        Case("report-output-inside", "report --output {star}/report {star}", "inside the artifact folder"),
        Case("report-output-file", "report --output {file} {star}", "not a folder"),
        Case("report-no-dirs", "report --output {work}/report", "dirs"),
        Case("report-unknown-flag", f"{r} --format pdf {{star}}", "--format"),
    ]


def push_cases() -> list[Case]:
    p = "push --allow-unchecked --repo-id me/demo --to-dir {work}/push"
    return [
        Case("push-missing", f"{p} {{work}}/nothere", "nothere"),
        Case("push-file", f"{p} {{file}}", "is a file, not an artifact folder"),
        Case("push-not-artifact", f"{p} {{work}}/txt-folder", "not a harness artifact", ("txt-folder",)),
        Case("push-truncated", f"{p} {{work}}/star-truncated", "corrupted", ("star-truncated",)),
        Case("push-altered", f"{p} {{work}}/star-altered", "corrupted", ("star-altered",)),
        Case("push-uncommitted", f"{p} {{work}}/star-uncommitted", "no completion marker", ("star-uncommitted",)),
        Case(
            "push-bad-repo-id", "push --allow-unchecked --repo-id not/a/repo --to-dir {work}/push {star}", "not/a/repo"
        ),
        Case("push-no-repo-id", "push --allow-unchecked --to-dir {work}/push {star}", "--repo-id"),
        Case(
            "push-to-dir-inside",
            "push --allow-unchecked --repo-id me/demo --to-dir {star}/hub {star}",
            "inside the artifact folder",
        ),
        Case(
            "push-to-dir-file", "push --allow-unchecked --repo-id me/demo --to-dir {file} {star}", "not an empty folder"
        ),
        Case("push-not-decontaminated", "push --repo-id me/demo --to-dir {work}/push {star}", "harness decontam"),
        Case("push-unknown-flag", f"{p} --public {{star}}", "--public"),
    ]


def decontam_cases() -> list[Case]:
    d = "decontam --output {work}/out"
    return [
        Case("decontam-input-missing", f"{d} --input {{work}}/nothere", "nothere"),
        Case("decontam-input-file", f"{d} --input {{file}}", "plain.txt"),
        Case("decontam-input-not-artifact", f"{d} --input {{work}}/txt-folder", "txt-folder", ("txt-folder",)),
        Case("decontam-input-truncated", f"{d} --input {{work}}/star-truncated", "corrupted", ("star-truncated",)),
        Case(
            "decontam-input-uncommitted",
            f"{d} --input {{work}}/star-uncommitted",
            "no completion marker",
            ("star-uncommitted",),
        ),  # fmt: skip
        Case("decontam-against-missing", f"{d} --input {{star}} --against {{work}}/nothere.jsonl", "nothere.jsonl"),
        Case("decontam-against-unknown", f"{d} --input {{star}} --against gsm8k", "gsm8k"),
        Case(
            "decontam-against-broken",
            f"{d} --input {{star}} --against {{work}}/broken-middle.jsonl",
            "broken-middle.jsonl",
            ("broken-middle.jsonl",),
        ),  # fmt: skip
        Case(
            "decontam-against-no-column",
            f"{d} --input {{star}} --against {{work}}/misspelled.jsonl:question",
            "question",
            ("misspelled.jsonl",),
        ),  # fmt: skip
        Case("decontam-against-lm-eval-unknown", f"{d} --input {{star}} --against lm-eval:nosuchtask", "nosuchtask"),
        Case("decontam-unknown-subset", f"{d} --input {{star}} --subsets nosuch", "nosuch"),
        Case("decontam-unknown-column", f"{d} --input {{star}} --columns nosuch", "nosuch"),
        Case("decontam-ngram-zero", f"{d} --input {{star}} --ngram 0", "ngram"),
        Case("decontam-output-file", "decontam --input {star} --output {file}", "plain.txt"),
        Case("decontam-output-other-run", "decontam --input {star} --output {copy}", "copy"),
        Case("decontam-unknown-flag", f"{d} --input {{star}} --ngrams 5", "--ngrams"),
        Case("decontam-config-typo", f"{d} --input {{star}} --config {{work}}/typo.yaml", "temprature", ("typo.yaml",)),
        Case("decontam-no-input", d, "--input"),
    ]


def run_cases() -> list[Case]:
    o = "--output {work}/run-out"
    return [
        Case("run-missing", f"run {{work}}/nothere.yaml {o}", "no such pipeline file"),
        Case("run-bad-yaml", f"run {{work}}/bad.yaml {o}", "not valid YAML", ("bad.yaml",)),
        Case("run-list-yaml", f"run {{work}}/list.yaml {o}", "expected a mapping", ("list.yaml",)),
        Case("run-unknown-key", f"run {{work}}/pipe-key.yaml {o}", "round", ("pipe-key.yaml",)),
        Case("run-command", f"run {{work}}/pipe-command.yaml {o}", "unknown command 'synthesize'", ("pipe-command.yaml",)),
        Case("run-setting", f"run {{work}}/pipe-setting.yaml {o}", "stage a: temprature", ("pipe-setting.yaml",)),
        Case("run-variable", f"run {{work}}/pipe-variable.yaml {o}", "${nothing} names nothing", ("pipe-variable.yaml",)),
        Case("run-size", f"run demo {o} --size huge", "--size huge: this pipeline's sizes are: tiny"),
        Case("run-set-unknown", f"run demo {o} --set limt=3", "--set limt"),
        Case("run-set-form", f"run demo {o} --set limit", "expected KEY=VALUE"),
        Case("run-no-output", "run demo", "--output"),
        Case("run-output-file", "run demo --output {file}", "not a folder"),
        Case("run-other-pipeline", "run demo --output {work}/other-run", "holds a run of pipeline 'backfill'", ("other-run",)),
        Case("run-unknown-flag", f"run demo {o} --sizee tiny", "--sizee"),
    ]  # fmt: skip


def lineage_cases() -> list[Case]:
    return [
        Case("lineage-missing", "lineage {work}/nothere --record r", "nothere"),
        Case("lineage-file", "lineage {file} --record r", "plain.txt"),
        Case("lineage-not-artifact", "lineage {work}/txt-folder --record r", "txt-folder", ("txt-folder",)),
        Case("lineage-unknown-record", "lineage {star} --record nosuch", "nosuch"),
        Case("lineage-truncated", "lineage {work}/star-truncated --record r", "corrupted", ("star-truncated",)),
        Case("lineage-sample-negative", "lineage {star} --record r --sample -1", "sample_idx -1"),
        Case("lineage-unknown-flag", "lineage {star} --records r", "--records"),
    ]


def all_cases() -> list[Case]:
    return [
        *synth_cases(),
        *judge_cases(),
        *select_cases(),
        *rescore_cases(),
        *eval_cases(),
        *train_cases(),
        *loop_cases(),
        *report_cases(),
        *push_cases(),
        *decontam_cases(),
        *lineage_cases(),
        *run_cases(),
    ]


def make_files(work: Path, names: tuple[str, ...]) -> None:
    for name in names:
        maker = FILES[name]
        if isinstance(maker, bytes):
            (work / name).write_bytes(maker)
        else:
            maker(work / name)
