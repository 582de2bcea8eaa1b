"""MMLU questions: the bundled test split or any dataset in the `cais/mmlu` schema, subsets, seeded draws.

Nothing here touches lm-eval or a model: this module turns `--dataset`, `--subsets`, `--limit` and `--seed`
into the exact questions to ask, and checks them before any model loads.

Every source (the bundled file, a local file or folder, a hub id) becomes the same list of `Question`s, so
everything after loading is one code path. A question's `id` is `subject/NNNN`, its position within its
subject in the source's order (the bundled file keeps each subject in `cais/mmlu`'s order).
"""

from __future__ import annotations

import difflib
import hashlib
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import Any

from harness.artifacts.sources import InputError, open_source
from harness.engines.cache import canonical_json

BUNDLED = "bundled"
COLUMNS = ("question", "subject", "choices", "answer")
ALL = "all"

# lm-eval's four MMLU groups (the `tag` of each subject in lm_eval/tasks/mmlu/default, 0.4.13), written out
# so that start-up never parses lm-eval's task YAMLs.
GROUPS: dict[str, tuple[str, ...]] = {
    "stem": (
        "abstract_algebra", "anatomy", "astronomy", "college_biology", "college_chemistry",
        "college_computer_science", "college_mathematics", "college_physics", "computer_security",
        "conceptual_physics", "electrical_engineering", "elementary_mathematics", "high_school_biology",
        "high_school_chemistry", "high_school_computer_science", "high_school_mathematics",
        "high_school_physics", "high_school_statistics", "machine_learning",
    ),
    "humanities": (
        "formal_logic", "high_school_european_history", "high_school_us_history", "high_school_world_history",
        "international_law", "jurisprudence", "logical_fallacies", "moral_disputes", "moral_scenarios",
        "philosophy", "prehistory", "professional_law", "world_religions",
    ),
    "social_sciences": (
        "econometrics", "high_school_geography", "high_school_government_and_politics",
        "high_school_macroeconomics", "high_school_microeconomics", "high_school_psychology", "human_sexuality",
        "professional_psychology", "public_relations", "security_studies", "sociology", "us_foreign_policy",
    ),
    "other": (
        "business_ethics", "clinical_knowledge", "college_medicine", "global_facts", "human_aging", "management",
        "marketing", "medical_genetics", "miscellaneous", "nutrition", "professional_accounting",
        "professional_medicine", "virology",
    ),
}  # fmt: skip
SUBJECT_GROUP = {subject: group for group, subjects in GROUPS.items() for subject in subjects}

# The seed card's table groups subjects by level; anything else is "Other".
SECTIONS = (("College", "college_"), ("Professional", "professional_"), ("High School", "high_school_"))
OTHER_SECTION = "Other"


def subject_group(subject: str) -> str:
    """lm-eval's group of a subject; a subject MMLU does not have (a custom dataset's) counts as `other`."""
    return SUBJECT_GROUP.get(subject, "other")


def subject_section(subject: str) -> str:
    return next((name for name, prefix in SECTIONS if subject.startswith(prefix)), OTHER_SECTION)


@dataclass(frozen=True)
class Question:
    id: str  # subject/NNNN: position within the subject in the source's order
    subject: str
    question: str
    choices: tuple[str, ...]
    answer: int  # index into choices
    record_id: str = field(default="", compare=False)  # stable hash of the question's content

    def to_row(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "subject": self.subject,
            "question": self.question,
            "choices": list(self.choices),
            "answer": self.answer,
        }


@dataclass
class MMLUData:
    label: str  # "bundled", a path or a hub id
    fingerprint: dict[str, Any]  # file hashes or hub id + revision, for provenance and resume
    by_subject: dict[str, list[Question]]

    @property
    def subjects(self) -> list[str]:
        return sorted(self.by_subject)


def bundled_path() -> Path:
    return Path(str(files("harness") / "data" / "mmlu.parquet"))


def load_mmlu(spec: str = BUNDLED, split: str = "test", name: str | None = None) -> MMLUData:
    """`bundled`, a local file or folder (Parquet, JSONL, CSV, a saved `datasets` folder) or a hub dataset id."""
    path = bundled_path() if spec == BUNDLED else Path(spec).expanduser()
    if spec == BUNDLED or path.exists():
        source = open_source(str(path), {"question": "question", "subject": "subject"}, split)
        label = BUNDLED if spec == BUNDLED else str(path)
        fingerprint = source.fingerprint
        if spec == BUNDLED:  # its hash, not where this install keeps it: a reinstall must not block a resume
            fingerprint = {"files": {"harness/data/mmlu.parquet": next(iter(source.fingerprint["files"].values()))}}
        missing = [c for c in COLUMNS if c not in source.columns]
        if missing:
            raise InputError(f"{label}: not in the cais/mmlu schema: no column(s) {missing}; it has {source.columns}")
        return MMLUData(label, fingerprint, _questions(label, (row.values for row in source.rows())))
    if spec.startswith((".", "/", "~")) or spec.count("/") > 1 or Path(spec).suffix:
        raise InputError(f"{spec}: no such file or folder")
    return _load_hub(spec, split, name)


def _load_hub(repo_id: str, split: str, name: str | None) -> MMLUData:
    """A hub dataset in the cais/mmlu schema. `cais/mmlu` itself needs a config name: `all` by default."""
    import datasets

    if name is None and repo_id == "cais/mmlu":
        name = ALL
    try:
        loaded = datasets.load_dataset(repo_id, name, split=split)
    except Exception as err:  # datasets raises many types for offline/missing; all mean "cannot read it"
        offline = " (HF_HUB_OFFLINE is set)" if os.environ.get("HF_HUB_OFFLINE", "") not in ("", "0") else ""
        raise InputError(
            f"{repo_id}: cannot load this hub dataset{offline}: {type(err).__name__}: {err}. "
            "Without a hub, use the bundled MMLU (the default --dataset) or a local file in the cais/mmlu schema"
        ) from err
    missing = [c for c in COLUMNS if c not in loaded.column_names]
    if missing:
        raise InputError(f"{repo_id}: not in the cais/mmlu schema: no column(s) {missing}")
    fingerprint = {"hub_id": repo_id, "config": name, "split": split, "fingerprint": loaded._fingerprint}
    return MMLUData(repo_id, fingerprint, _questions(repo_id, iter(loaded)))


def _questions(label: str, rows: Iterable[dict[str, Any]]) -> dict[str, list[Question]]:
    """Check every row (the message names the row and column) and group the questions by subject."""
    by_subject: dict[str, list[Question]] = {}
    for index, row in enumerate(rows):
        where = f"{label}: row {index}"
        question, subject, choices, answer = (row.get(c) for c in COLUMNS)
        if not isinstance(question, str) or not question.strip():
            raise InputError(f"{where}, column 'question': expected non-empty text, got {question!r}")
        if not isinstance(subject, str) or not subject.strip():
            raise InputError(f"{where}, column 'subject': expected a subject name, got {subject!r}")
        if not isinstance(choices, list | tuple) or len(choices) != 4 or not all(isinstance(c, str) for c in choices):
            raise InputError(f"{where}, column 'choices': expected a list of 4 texts, got {choices!r}")
        if isinstance(answer, bool) or not isinstance(answer, int) or not 0 <= answer < len(choices):
            raise InputError(f"{where}, column 'answer': expected an index 0-{len(choices) - 1}, got {answer!r}")
        bucket = by_subject.setdefault(subject, [])
        content = canonical_json({"question": question, "subject": subject, "choices": choices, "answer": answer})
        record_id = hashlib.sha256(f"{content}#{len(bucket)}".encode()).hexdigest()[:32]
        bucket.append(Question(f"{subject}/{len(bucket):04d}", subject, question, tuple(choices), answer, record_id))
    if not by_subject:
        raise InputError(f"{label}: no questions")
    return by_subject


def resolve_subsets(spec: str | Iterable[str], available: Iterable[str]) -> list[str]:
    """Subject names, lm-eval groups (stem, humanities, social_sciences, other) and `all` -> sorted subjects.

    A group means its subjects that the dataset has. A name that is none of these is an error listing the
    valid names.
    """
    parts = [spec] if isinstance(spec, str) else list(spec)
    names = [name.strip() for part in parts for name in part.split(",") if name.strip()]
    available = sorted(set(available))
    if not names:
        raise InputError("--subsets is empty; give subject names, groups (stem, ...) or `all`")
    chosen: set[str] = set()
    for name in names:
        if name == ALL:
            chosen.update(available)
        elif name in GROUPS:
            chosen.update(s for s in available if subject_group(s) == name)
        elif name in available:
            chosen.add(name)
        else:
            raise InputError(_unknown_subset(name, available))
    if not chosen:
        raise InputError(f"--subsets {','.join(names)} selects no subject of this dataset")
    return sorted(chosen)


def _unknown_subset(name: str, available: list[str]) -> str:
    valid = [ALL, *GROUPS, *available]
    close = difflib.get_close_matches(name, valid, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    return (
        f"unknown subset {name!r}.{hint} Valid subsets: {ALL}; the groups {', '.join(GROUPS)}; "
        f"or a subject: {', '.join(available)}"
    )


def draw(questions: list[Question], limit: int | None, seed: int) -> list[Question]:
    """`limit` questions drawn at random with `seed`, in source order; all of them when limit is None or larger.

    Each question is ranked by a hash of (seed, id): the draw for a subject does not depend on which other
    subjects are evaluated, on the Python or numpy version, or on the machine, and a smaller limit with the
    same seed draws a subset of a larger one.
    """
    if limit is None or limit >= len(questions):
        return list(questions)
    ranked = sorted(questions, key=lambda q: hashlib.sha256(f"{seed}\0{q.id}".encode()).digest())
    chosen = {q.id for q in ranked[:limit]}
    return [q for q in questions if q.id in chosen]
