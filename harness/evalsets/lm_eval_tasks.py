"""The lm-eval task configs the harness generates: one Parquet file and one task YAML per MMLU subject, and the
`process_results` function a generative task's YAML names with `!function` (the harness's own parser scores).

Separate from harness/evalsets/lm_eval_adapter.py, which builds lm-eval's model and runs it: what lm-eval is
asked (the prompts, the metrics, the data files) is written here without lm-eval installed or imported, and a
folder written here is a valid `--include_path` for the lm-eval CLI on its own.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from harness.evalsets.mmlu import Question

LETTERS = ("A", "B", "C", "D")
MC_TEXT = "{{question.strip()}}\nA. {{choices[0]}}\nB. {{choices[1]}}\nC. {{choices[2]}}\nD. {{choices[3]}}\nAnswer:"
CLOZE_TEXT = "Question: {{question.strip()}}\nAnswer:"
METRICS_MODULE = "harness_metrics"


@dataclass(frozen=True)
class TaskSpec:
    """What lm-eval is asked to do. Generative mode needs `prompts`: a module with NAME, user_prompt(question,
    choices) and parse_answer(text, n_choices, question, choices, answer=) (e.g. tasks/structured_mc.py), and the
    generation kwargs."""

    mode: str
    prompts: ModuleType | None = None
    gen_kwargs: dict[str, Any] | None = None

    def task_name(self, subject: str) -> str:
        variant = self.prompts.NAME if self.prompts is not None else self.mode  # loglikelihood is plain MMLU
        return f"harness_mmlu_{subject}" if variant == "loglikelihood" else f"harness_mmlu_{variant}_{subject}"


def write_tasks(folder: Path, spec: TaskSpec, questions: dict[str, list[Question]]) -> dict[str, str]:
    """One data file and one task config per subject in `folder`; returns subject -> lm-eval task name."""
    folder.mkdir(parents=True, exist_ok=True)
    prompts = spec.prompts
    names = {}
    for subject, items in questions.items():
        rows = [q.to_row() for q in items]
        if prompts is not None:  # the generative prompt is built here, by the task module, not by a template
            for row, q in zip(rows, items, strict=True):
                row["user_prompt"] = prompts.user_prompt(q.question, q.choices)
        data = folder / f"{subject}.parquet"
        pq.write_table(pa.Table.from_pylist(rows), data)
        name = spec.task_name(subject)
        text = yaml.dump(_task_config(spec, subject, name, data), Dumper=_Dumper, sort_keys=False, allow_unicode=True)
        if prompts is not None:  # a YAML tag lm-eval resolves to a function in this folder
            text += f"process_results: !function {METRICS_MODULE}.process_results\n"
        (folder / f"{name}.yaml").write_text(text)
        names[subject] = name
    if prompts is not None:
        (folder / f"{METRICS_MODULE}.py").write_text(
            "# Written by reasoning-harness: lm-eval scores answers with the harness's own parser.\n"
            # Named from the function itself, so the file follows it if it ever moves again.
            f"from {generative_metrics.__module__} import generative_metrics\n\n"
            f"process_results = generative_metrics({prompts.__name__!r})\n"
        )
    return names


class _Dumper(yaml.SafeDumper):
    """Multi-line prompt templates as YAML literal blocks, so the configs read like lm-eval's own."""


_Dumper.add_representer(
    str,
    lambda dumper, text: dumper.represent_scalar("tag:yaml.org,2002:str", text, style="|" if "\n" in text else None),
)


def _task_config(spec: TaskSpec, subject: str, name: str, data: Path) -> dict[str, Any]:
    topic = subject.replace("_", " ")
    config: dict[str, Any] = {
        "task": name,
        "task_alias": subject,
        "dataset_path": "parquet",
        # The arrow cache `datasets` builds from the file stays in the run's folder, not in ~/.cache.
        "dataset_kwargs": {"data_files": {"test": str(data.resolve())}, "cache_dir": str(data.parent.resolve() / "hf")},
        "test_split": "test",
        "fewshot_split": None,
        "num_fewshot": 0,
    }
    if spec.mode == "loglikelihood":
        return config | {
            "output_type": "multiple_choice",
            "description": f"The following are multiple choice questions (with answers) about {topic}.\n\n",
            "doc_to_text": MC_TEXT,
            "doc_to_choice": list(LETTERS),
            "doc_to_target": "answer",
            "metric_list": [_metric("acc")],
            "metadata": {"version": 1.0},
        }
    if spec.mode == "cloze":
        return config | {
            "output_type": "multiple_choice",
            "description": f"The following are questions (with answers) about {topic}.\n\n",
            "doc_to_text": CLOZE_TEXT,
            "doc_to_choice": "{{choices}}",
            "doc_to_target": "{{answer}}",
            "metric_list": [_metric("acc"), _metric("acc_norm")],
            "metadata": {"version": 1.0},
        }
    return config | {
        "output_type": "generate_until",
        "doc_to_text": "{{user_prompt}}",
        "doc_to_target": "{{answer}}",
        "generation_kwargs": spec.gen_kwargs or {},
        "metric_list": [_metric("acc"), _metric("format_valid")],
        "metadata": {"version": 1.0},
    }


def _metric(name: str) -> dict[str, Any]:
    return {"metric": name, "aggregation": "mean", "higher_is_better": True}


def generative_metrics(module_name: str):
    """lm-eval `process_results` for a generative task: the harness parser decides `acc` and `format_valid`."""
    module = importlib.import_module(module_name)

    def process_results(doc: dict[str, Any], results: list[str]) -> dict[str, float]:
        parsed = module.parse_answer(
            results[0], len(doc["choices"]), doc["question"], doc["choices"], answer=doc["answer"]
        )
        return {"acc": float(bool(parsed.correct)), "format_valid": float(parsed.format_valid)}

    return process_results
