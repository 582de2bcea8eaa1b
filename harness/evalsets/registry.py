"""Eval sets a dataset is checked against (`harness decontam --against`): their items as texts, with ids.

- `mmlu`: the bundled MMLU test split (or the subjects `--subsets` names); an item is its question followed by
  its four choices, one per line, as a prompt shows them. Ids are `mmlu:subject/NNNN`, as `harness eval` uses.
- `FILE` or `FILE:COLUMN`: a local Parquet, JSONL or CSV file (or folder of Parquet) with a text column
  (default: the first of text, question, prompt, problem, input). Ids are `FILE#ROW`.
- `lm-eval:TASK` or `lm-eval:FILE.yaml`: the documents of an lm-eval task whose data is local (a registered
  task, or a task YAML whose folder becomes lm-eval's include path); an item is `doc_to_text` + its target.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.artifacts.sources import InputError, open_source

MMLU = "mmlu"
LM_EVAL_PREFIX = "lm-eval:"
TEXT_COLUMNS = ("text", "question", "prompt", "problem", "input")


@dataclass
class EvalSet:
    name: str  # as given to --against
    fingerprint: dict[str, Any]  # file hashes: what was checked against, for provenance and resume
    ids: list[str] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    detail: str = ""  # e.g. the subjects

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "items": len(self.ids), "detail": self.detail, "fingerprint": self.fingerprint}


def load_eval_set(spec: str, subsets: str = "all") -> EvalSet:
    if spec == MMLU:
        return _mmlu(subsets)
    if spec.startswith(LM_EVAL_PREFIX):
        return _lm_eval_task(spec.removeprefix(LM_EVAL_PREFIX))
    return _local_file(spec)


def _mmlu(subsets: str) -> EvalSet:
    from harness.evalsets.mmlu import load_mmlu, resolve_subsets

    data = load_mmlu()
    chosen = resolve_subsets(subsets, data.subjects)
    detail = "all 57 subjects" if len(chosen) == len(data.subjects) else f"subjects: {', '.join(chosen)}"
    out = EvalSet(MMLU, data.fingerprint, detail=detail)
    for subject in chosen:
        for question in data.by_subject[subject]:
            out.ids.append(f"mmlu:{question.id}")
            out.texts.append("\n".join([question.question, *question.choices]))
    return out


def _local_file(spec: str) -> EvalSet:
    path, column = spec, None
    if not Path(spec).expanduser().exists() and ":" in spec:
        path, _, column = spec.rpartition(":")
    if not Path(path).expanduser().exists():
        raise InputError(f"--against {spec}: no such file; give mmlu, lm-eval:TASK, or a local FILE[:COLUMN]")
    probe = open_source(path, {})
    if column is None:
        column = next((c for c in TEXT_COLUMNS if c in probe.columns), None)
        if column is None:
            raise InputError(
                f"--against {spec}: no text column ({', '.join(TEXT_COLUMNS)}); name one as FILE:COLUMN "
                f"(it has {', '.join(probe.columns)})"
            )
    source = open_source(path, {"text": column})
    out = EvalSet(spec, source.fingerprint, detail=f"column {column!r}")
    for index, row in source.values():
        text = row.get(column)
        if isinstance(text, str) and text.strip():
            out.ids.append(f"{path}#{index}")
            out.texts.append(text)
    if not out.texts:
        raise InputError(f"--against {spec}: column {column!r} holds no text")
    return out


def _lm_eval_task(spec: str) -> EvalSet:
    """An lm-eval task's test (else validation) documents, read through lm-eval's own task loader. `spec` is a
    registered task name, or the path of a task's YAML file (its folder becomes lm-eval's include path)."""
    try:
        from lm_eval.tasks import TaskManager
    except ImportError as err:
        raise InputError(f"--against lm-eval:{spec}: lm-eval is not installed") from err
    name, manager = spec, None
    yaml_file = Path(spec).expanduser()
    if yaml_file.suffix in (".yaml", ".yml"):
        if not yaml_file.is_file():
            raise InputError(f"--against lm-eval:{spec}: no such task file")
        import yaml

        name = (yaml.safe_load(yaml_file.read_text()) or {}).get("task")
        if not isinstance(name, str):
            raise InputError(f"--against lm-eval:{spec}: the file has no `task:` name")
        # only that folder: indexing lm-eval's own thousands of task YAMLs takes seconds
        manager = TaskManager(include_path=str(yaml_file.parent.resolve()), include_defaults=False)
    try:
        task = (manager or TaskManager()).load([name])["tasks"][name]
        docs = list(task.test_docs() if task.has_test_docs() else task.validation_docs())
    except Exception as err:  # lm-eval raises many types for unknown tasks and unreadable data
        raise InputError(f"--against lm-eval:{spec}: cannot load the task's local data ({err})") from err
    out = EvalSet(f"{LM_EVAL_PREFIX}{spec}", {"lm_eval_task": name, "docs": len(docs)}, detail=f"{len(docs)} docs")
    for index, doc in enumerate(docs):
        target = task.doc_to_target(doc)
        if isinstance(target, int) and task.config.doc_to_choice:
            target = task.doc_to_choice(doc)[target]
        out.ids.append(f"{name}#{index}")
        out.texts.append(f"{task.doc_to_text(doc)} {target}")
    return out
