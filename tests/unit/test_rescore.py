"""`harness rescore` on hand-written artifacts (no model): the same rows with rescored_* columns, zero flips
where nothing changed, the flips and their record ids where a stored verdict differs, resume, versions."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from harness.artifacts.reader import open_artifact
from harness.artifacts.sources import open_source
from harness.artifacts.writer import ArtifactError, ArtifactWriter, read_provenance
from harness.config import ConfigError, DecontamConfig, JudgeConfig, RescoreConfig
from harness.engines.base import Completion
from harness.stages.decontam import run_decontam
from harness.stages.judge import run_judge
from harness.stages.rescore import run_rescore
from harness.stages.synth import bundled_sample
from judges import versions
from judges.verifiers import check_exact
from tasks.backfill import BackfillTask
from tasks.reasoning_token import ReasoningTokenTask
from tasks.star import StarTask
from tasks.thought_variants import ThoughtVariantsTask
from tests.unit.judged_samples import star_artifact, task_row, write_task_artifact

DIRECTIONS = ("pass_to_fail", "fail_to_pass", "other")


def rescore(src: Path, out: Path, **settings):
    return run_rescore(RescoreConfig(input=str(src), output=str(out), **settings))


def flips(summary) -> dict[str, tuple[int, int, int]]:
    return {name: tuple(v[d] for d in DIRECTIONS) for name, v in summary.verdicts.items()}


def rows(folder: Path) -> list[dict]:
    return pq.read_table(sorted(folder.glob("*.parquet"))).to_pylist()


def altered(src: Path, out: Path, change) -> Path:
    """A copy of artifact `src` whose rows went through `change(row_number, row)`, same schema and provenance."""
    shard = sorted(src.glob("*.parquet"))[0]
    table = pq.read_table(shard)
    changed = [change(i, dict(row)) for i, row in enumerate(table.to_pylist())]
    schema = table.schema.remove_metadata()
    with ArtifactWriter(out, schema, {"altered": str(src)}).open({}) as writer:
        writer.commit(pa.Table.from_pylist(changed, schema=schema), read_provenance(shard))
    return out


def test_unchanged_verifiers_flip_nothing_and_rows_keep_their_ids_and_order(tmp_path):
    star = star_artifact(tmp_path / "star")
    summary = rescore(star, tmp_path / "out")
    assert flips(summary) == {"format": (0, 0, 0), "valid": (0, 0, 0), "correct": (0, 0, 0)}
    assert summary.verdicts["format"]["compared"] == 6 and summary.verdicts["correct"]["compared"] == 5
    before, after = rows(star), rows(tmp_path / "out")
    assert [(r["record_id"], r["sample_idx"]) for r in after] == [(r["record_id"], r["sample_idx"]) for r in before]
    for old, new in zip(before, after, strict=True):
        assert {k: new[k] for k in old} == old  # the stored columns, untouched
        assert (new["rescored_valid"], new["rescored_correct"]) == (old["valid"], old["correct"])
        assert new["rescored_verdicts"] == old["verdicts"]
    version = summary.verifiers["star.parse"]
    assert version.startswith(f"{StarTask.version}+")
    assert read_provenance(sorted((tmp_path / "out").glob("*.parquet"))[0])["verifiers"] == {"star.parse": version}
    written = json.loads((tmp_path / "out" / "rescore.json").read_text())
    assert written["verdicts"]["valid"]["version"] == version and written["rows"] == 6
    assert open_artifact(tmp_path / "out").kind == "synth"  # loads as an artifact


def test_an_altered_stored_verdict_shows_as_flips_with_its_record_ids(tmp_path):
    star = star_artifact(tmp_path / "star")

    def change(i: int, row: dict) -> dict:
        if i == 1:  # a wrong answer stored as correct: now fails
            row["correct"] = True
        if i == 3:  # the broken sample stored as valid: its format verdict now fails
            row["valid"], row["rejection_reason"] = True, None
            row["verdicts"] = [{**v, "passed": True} for v in row["verdicts"]]
        return row

    src = altered(star, tmp_path / "altered", change)
    ids = [r["record_id"] for r in rows(src)]
    summary = rescore(src, tmp_path / "out", examples=1)
    assert flips(summary) == {"format": (1, 0, 0), "valid": (1, 0, 0), "correct": (1, 0, 0)}
    assert summary.verdicts["correct"]["examples"]["pass_to_fail"] == [ids[1]]
    assert summary.verdicts["format"]["examples"]["pass_to_fail"] == [ids[3]]
    assert summary.flipped == 3
    out = rows(tmp_path / "out")
    assert (out[1]["correct"], out[1]["rescored_correct"]) == (True, False)


def test_a_judged_artifact_reruns_its_verifiers_as_the_judge_read_their_columns(tmp_path):
    star = star_artifact(tmp_path / "star")
    judged = tmp_path / "judged"
    # the gold read from the synth run's source by source_index (--col), the pattern a setting (--regex)
    settings = {"columns": {"gold": "source:solution"}, "regex": r"(-?\d+)"}
    run_judge(JudgeConfig(input=str(star), output=str(judged), judges=["exact", "regex", "format"], **settings))
    summary = rescore(judged, tmp_path / "out")
    assert flips(summary) == {f"judge_{n}": (0, 0, 0) for n in ("exact", "regex", "format")}
    assert set(summary.verifiers) == {"exact", "regex", "format", "star.parse"}
    assert summary.verdicts["judge_regex"]["compared"] == 6
    out = rows(tmp_path / "out")
    assert [r["rescored_judge_exact_score"] for r in out] == [r["judge_exact_score"] for r in out]
    decontam(judged, tmp_path / "decontam")  # the judge run's settings, found up the inputs
    assert flips(rescore(tmp_path / "decontam", tmp_path / "out-decontam")) == flips(summary)

    def change(i: int, row: dict) -> dict:
        row["judge_exact_score"] = {0: 0.0, 1: 1.0, 3: None}.get(i, row["judge_exact_score"])
        return row

    src = altered(judged, tmp_path / "altered", change)
    ids = [r["record_id"] for r in rows(src)]
    summary = rescore(src, tmp_path / "out2")
    assert flips(summary)["judge_exact"] == (1, 1, 1) and flips(summary)["judge_format"] == (0, 0, 0)
    assert summary.verdicts["judge_exact"]["examples"] == {"pass_to_fail": [ids[1]], "fail_to_pass": [ids[0]],
                                                           "other": [ids[3]]}  # fmt: skip


def test_llm_judges_are_not_rerun_and_the_output_says_so(tmp_path):
    star = star_artifact(tmp_path / "star")
    judged = tmp_path / "judged"
    run_judge(JudgeConfig(input=str(star), output=str(judged), judges=["exact"]))

    shard = sorted(judged.glob("*.parquet"))[0]
    provenance = read_provenance(shard)  # as if `--judge exact,score` had run: the settings and the columns
    provenance["config"] = {**provenance["config"], "judges": ["exact", "score"]}
    llm = [pa.field("judge_score_score", pa.float64()), pa.field("judge_score_reason", pa.string())]
    schema = pa.schema([*pq.read_schema(shard).remove_metadata(), *llm])
    data = [{**r, "judge_score_score": 7.0, "judge_score_reason": "an LLM said so"} for r in rows(judged)]
    src = tmp_path / "both"
    with ArtifactWriter(src, schema, {}).open({}) as writer:
        writer.commit(pa.Table.from_pylist(data, schema=schema), provenance)
    summary = rescore(src, tmp_path / "out")
    assert list(summary.verdicts) == ["judge_exact"] and "score" in summary.not_rerun
    assert "need an engine" in json.loads((tmp_path / "out" / "rescore.json").read_text())["not_rerun"]["score"]
    assert "rescored_judge_score_score" not in rows(tmp_path / "out")[0]


def test_a_killed_run_resumes_after_its_last_shard_and_counts_every_row_once(tmp_path):
    answers = {i: [f"Work.\n### Answer: {i}", f"Guess.\n### Answer: {i + 1}"] for i in range(5)}
    star = star_artifact(tmp_path / "star", answers)
    whole = rescore(star, tmp_path / "whole", batch_size=3)
    out = tmp_path / "out"
    rescore(star, out, batch_size=3)
    shards = sorted(out.glob("*.parquet"))
    assert len(shards) == 4
    for shard in shards[2:]:  # as if killed after two commits: the later shards and their markers are gone
        shard.unlink()
        (out / ".harness" / "done" / f"{shard.name}.json").unlink()
    again = rescore(star, out, batch_size=3)
    assert (again.skipped, again.rows) == (6, 4)
    assert again.verdicts == whole.verdicts
    got = pq.read_table(sorted(out.glob("*.parquet"))).replace_schema_metadata(None)
    assert got.equals(pq.read_table(sorted((tmp_path / "whole").glob("*.parquet"))).replace_schema_metadata(None))


def test_a_rerun_after_the_verifier_changed_is_refused(tmp_path, monkeypatch):
    star = star_artifact(tmp_path / "star")
    rescore(star, tmp_path / "out")
    monkeypatch.setattr("harness.stages.rescore_verdicts.code_version", lambda obj, explicit=None: "2+changed")
    with pytest.raises(ArtifactError, match="other settings.*verifiers.star.parse"):
        rescore(star, tmp_path / "out")


def test_kinds_with_nothing_to_rescore_are_refused(tmp_path):
    from tests.unit.pairs_artifact import write_pairs_artifact

    pairs = tmp_path / "pairs"
    write_pairs_artifact(pairs, 3)
    with pytest.raises(ConfigError, match="a pairs artifact"):
        rescore(pairs, tmp_path / "out")
    star = star_artifact(tmp_path / "star")
    rescore(star, tmp_path / "once")
    with pytest.raises(ConfigError, match=f"already rescored.*{star}"):
        rescore(tmp_path / "once", tmp_path / "twice")


def test_a_verifier_s_version_follows_its_code_and_the_modules_it_imports(monkeypatch):
    assert "judges.structured_format" in versions.module_closure("tasks.structured")
    assert versions.code_version(check_exact) == versions.code_version(check_exact)
    assert versions.code_version(StarTask, explicit="1").startswith("1+")
    before = versions.code_version(StarTask, explicit="1")
    real = versions.module_source

    def edited(name: str) -> bytes:  # an edit in a module star's parse imports, not in tasks/star.py itself
        return real(name) + (b"\n# edited\n" if name == "judges.verifiers" else b"")

    monkeypatch.setattr(versions, "module_source", edited)
    assert versions.code_version(StarTask, explicit="1") != before


@pytest.mark.parametrize(
    ("task", "variant"),
    [(ThoughtVariantsTask(variants="ab"), "a"), (ThoughtVariantsTask(variants="ab", prefix="closed"), "b"),
     (ReasoningTokenTask(), "")],
)  # fmt: skip
@pytest.mark.parametrize("first", [Completion("  dd them\n", "length", 20, 8), Completion("\n", "stop", 20, 1)])
def test_a_two_step_task_s_first_step_rebuilt_from_its_row_parses_as_the_completion_did(task, variant, first):
    """What rescore gives `parse` for the first step: the same fields and verdicts as the engine's completion
    (whitespace around it, a budget hit, an empty one)."""
    values, second = {"question": "What is 6 * 7?"}, Completion(" 42 ", "length", 40, 3)
    fields, verdicts = task.parse(values, second, variant=variant, first=first)
    rebuilt = task.first_from_output({**fields, "sample_idx": 0})
    assert task.parse(values, second, variant=variant, first=rebuilt) == (fields, verdicts)


def decontam(src: Path, out: Path) -> None:
    """A real decontam run of `src`, against a one-question eval set (the rows pass on unchanged)."""
    evalset = out.parent / "evalset.jsonl"
    evalset.write_text(json.dumps({"question": "Which planet is closest to the Sun?"}) + "\n")
    run_decontam(DecontamConfig(input=str(src), output=str(out), against=[f"{evalset}:question"]))


def test_rows_passed_on_by_decontam_rescore_with_the_synth_run_s_task_options(tmp_path):
    """Rescore reads the task options of the synth run up the artifact's inputs (issue 23): backfill rows made
    with `min_trace_words: 5`, through a real decontam, flip nothing; the same rows with the defaults' 12
    recorded flip the 7-word trace pass -> fail (what reading the defaults did)."""
    task, source = BackfillTask(min_trace_words=5), open_source(str(bundled_sample()), {})
    traces = ["Take each number in turn and add.", "Sum.", " ".join(["step"] * 15)]
    rows = [
        task_row(task, f"r{i}", i, {"instruction": "Add 1 and 2.", "solution": "3"}, 0, f"{t}\n<|thinking_end|>\n")
        for i, t in enumerate(traces)
    ]
    write_task_artifact(tmp_path / "synth", rows, source, task, task_options={"min_trace_words": 5})
    decontam(tmp_path / "synth", tmp_path / "decontam")
    summary = rescore(tmp_path / "decontam", tmp_path / "out")
    assert summary.flipped == 0 and summary.verdicts["trace_reasoning"]["compared"] == 3
    written = json.loads((tmp_path / "out" / "rescore.json").read_text())
    assert written["task_options"] == {"min_trace_words": 5}
    assert written["task_options_from"] == str(tmp_path / "synth")
    write_task_artifact(tmp_path / "defaults", rows, source, task)  # no options recorded: the task's defaults
    assert flips(rescore(tmp_path / "defaults", tmp_path / "flipped"))["trace_reasoning"] == (1, 0, 0)


def test_rows_whose_synth_run_is_not_up_their_inputs_are_refused(tmp_path):
    star = star_artifact(tmp_path / "star")
    decontam(star, tmp_path / "decontam")
    shutil.rmtree(star)
    with pytest.raises(ConfigError, match="no synth run found up the artifacts its rows came from"):
        rescore(tmp_path / "decontam", tmp_path / "out")


def test_a_decontam_output_whose_judged_artifact_is_gone_is_refused_naming_it(tmp_path):
    star = star_artifact(tmp_path / "star")
    run_judge(JudgeConfig(input=str(star), output=str(tmp_path / "judged"), judges=["exact"]))
    decontam(tmp_path / "judged", tmp_path / "decontam")
    shutil.rmtree(tmp_path / "judged")
    with pytest.raises(ConfigError, match="no harness judge run found up the artifacts") as refused:
        rescore(tmp_path / "decontam", tmp_path / "out")
    assert f"from {tmp_path / 'judged'}, which is not a harness artifact here" in str(refused.value)
