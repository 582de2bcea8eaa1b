"""What `harness rescore` re-runs on an artifact's stored rows, and how it counts the flips.

- A synth artifact: its task's `parse` on each stored completion (the task and its options as the synth run
  recorded them, found up the artifacts the rows came from when a stage such as decontam passed them on; a
  two-step task's first step rebuilt from its columns by the task). New columns: `rescored_verdicts`, `rescored_valid`,
  `rescored_rejection_reason`, and `rescored_<FIELD>` for each true/false field of the task (`correct`).
  Rows with no completion (an input rejected before generation, an engine error) have nothing to parse:
  their new columns stay null and they are counted apart.
- A judged artifact: the verifier judges it ran (`--judge mc,math,exact,regex,reasoning-gym,format`), through
  the judge stage's own question judging with its recorded settings and columns:
  `rescored_judge_<NAME>_score` and `_reason`. LLM judges (score, pairwise, rank) and usefulness need a model;
  their scores are not re-run, and the output says so.

A verdict passes when it is true (a judge: when its score is >= 1.0, `harness select`'s default threshold); it
flips pass -> fail or fail -> pass, or changes otherwise (reached before and not now, or the reverse; a judge's
score that moved without crossing the threshold). Each verifier's version is `judges.versions.code_version`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from harness.artifacts.reader import Artifact, input_label, made_from, made_from_chain
from harness.artifacts.schemas import VERDICT, verdict_fields
from harness.config import ConfigError, JudgeConfig, read_option_files
from harness.engines.base import SamplingParams
from harness.engines.stream_loop import run_record
from harness.stages.judge_columns import SourceColumns, resolve_columns, with_source
from harness.stages.judge_questions import QuestionJudging
from harness.stages.task_run import TaskRun, first_task, make_task, refuse_without_first, task_run
from judges.format_check import check_row
from judges.registry import FORMAT, LLM_JUDGES, VERIFIERS, column_name, missing_package
from judges.versions import code_version

PREFIX = "rescored_"
PASS_SCORE = 1.0
DIRECTIONS = ("pass_to_fail", "fail_to_pass", "other")


@dataclass
class Tally:
    """One verdict's flips over some rows: counts and the first example record ids of each direction."""

    compared: int = 0  # rows where the verdict was reached before, now, or both
    pass_to_fail: int = 0
    fail_to_pass: int = 0
    other: int = 0
    examples: dict[str, list[str]] = field(default_factory=lambda: {d: [] for d in DIRECTIONS})

    def add(self, before: bool | None, now: bool | None, changed: bool, record_id: str, keep: int) -> None:
        if before is None and now is None:
            return
        self.compared += 1
        direction = "pass_to_fail" if before and now is False else "fail_to_pass" if before is False and now else None
        if direction is None and (changed or before != now):
            direction = "other"
        if direction is None:
            return
        setattr(self, direction, getattr(self, direction) + 1)
        shown = self.examples[direction]
        if len(shown) < keep and record_id not in shown:
            shown.append(record_id)

    def merge(self, other: dict[str, Any], keep: int) -> None:
        self.compared += other["compared"]
        for direction in DIRECTIONS:
            setattr(self, direction, getattr(self, direction) + other[direction])
            shown = self.examples[direction]
            shown += [r for r in other["examples"][direction] if r not in shown][: max(keep - len(shown), 0)]

    def to_dict(self) -> dict[str, Any]:
        return {"compared": self.compared, **{d: getattr(self, d) for d in DIRECTIONS}, "examples": self.examples}


@dataclass
class ChunkResult:
    """A chunk's new columns (name -> values, one per row) and its tallies."""

    columns: dict[str, list[Any]]
    flips: dict[str, Tally]
    not_rescored: dict[str, int]


class SynthRescorer:
    """The task's `parse` again on every stored completion."""

    kind = "synth"

    def __init__(self, artifact: Artifact, provenance: dict[str, Any]) -> None:
        names = artifact.schema.names
        missing = [c for c in ("task", "completion", "finish_reason", "verdicts", "valid") if c not in names]
        if missing:
            raise ConfigError(f"{artifact.path}: a synth artifact without column(s) {missing}; nothing to rescore")
        run = task_run(artifact)
        self.synth = run.synth
        self.task = make_task(artifact.path, first_task(artifact.path) or _run_task(run), run.options)
        self.task_run = run.describe(self.task.name)
        refuse_without_first(artifact.path, self.task, names, run, "rescore that")
        self.bool_fields = [f.name for f in self.task.fields if pa.types.is_boolean(f.type)]
        self.verifier = f"{self.task.name}.parse"
        self.verifiers = {self.verifier: code_version(type(self.task), explicit=self.task.version)}
        self.not_rerun: dict[str, str] = {}
        self.fields = [
            pa.field(PREFIX + "valid", pa.bool_()),
            pa.field(PREFIX + "rejection_reason", pa.string()),
            pa.field(PREFIX + "verdicts", pa.list_(VERDICT)),
            *(pa.field(PREFIX + name, pa.bool_()) for name in self.bool_fields),
        ]
        self.read = [c for c in names if c != "messages" or "messages" in self.task.columns]

    def verdict_source(self, key: str) -> tuple[str, str]:
        """(verifier, stored column) of a verdict in the flip table."""
        column = key if key == "valid" or key in self.bool_fields or key.startswith("verdicts[") else f"verdicts[{key}]"
        return self.verifier, column

    def rescore(self, rows: list[dict[str, Any]], keep: int) -> ChunkResult:
        out = ChunkResult({f.name: [] for f in self.fields}, {}, {})
        for row in rows:
            fields, verdicts = self._parse(row, out.not_rescored)
            new = verdict_fields(verdicts) if verdicts is not None else {"valid": None, "rejection_reason": None}
            values = {**new, "verdicts": new.get("verdicts"), **{n: (fields or {}).get(n) for n in self.bool_fields}}
            for name, value in values.items():
                out.columns[PREFIX + name].append(value)
            if verdicts is None:
                continue
            before = {v["name"]: v["passed"] for v in row["verdicts"] or []}
            now = {v.name: v.passed for v in verdicts}
            for name in dict.fromkeys([*before, *now]):
                key = f"verdicts[{name}]" if name in self.bool_fields else name  # beside a column of its name
                _tally(out.flips, key, before.get(name), now.get(name), row["record_id"], keep)
            for name in ("valid", *self.bool_fields):
                _tally(out.flips, name, row.get(name), values[name], row["record_id"], keep)
        return out

    def _parse(self, row: dict[str, Any], skipped: dict[str, int]):
        finish = row.get("finish_reason")
        if row.get("completion") is None or finish in (None, "error"):
            why = "an engine error (no completion)" if finish == "error" else "rejected before generation"
            skipped[why] = skipped.get(why, 0) + 1
            return None, None
        return self.task.parse_stored(row)


class JudgeRescorer:
    """The verifier judges of a `harness judge` run again, as that run read their columns."""

    kind = "judge"

    def __init__(self, artifact: Artifact, provenance: dict[str, Any]) -> None:
        # The judge run's settings: the artifact's own, or those up the artifacts it was made from (decontam)
        chain = list(made_from_chain(artifact))
        judged = next((a for a in chain if a.provenance.get("stage") == "judge"), None)
        provenance = judged.provenance if judged is not None and judged is not artifact else provenance
        cfg = _judge_config(artifact, provenance, None if judged is not None else chain[-1])
        self.names = [j for j in cfg.judges if j in VERIFIERS or j == FORMAT]
        self.not_rerun = {
            j: ("an LLM judge: its scores need an engine and are kept as stored" if j in LLM_JUDGES
                else "scored by a model: kept as stored")
            for j in cfg.judges if j not in self.names
        }  # fmt: skip
        if not self.names:
            raise ConfigError(
                f"{artifact.path}: judged by {', '.join(cfg.judges)} only, which need a model (rescore re-runs "
                f"verifiers, with no engine: {', '.join([*VERIFIERS, FORMAT])}); there is nothing to rescore"
            )
        for name in self.names:
            if missing := missing_package(name):
                raise ConfigError(f"the {name} judge needs {missing}: pip install 'reasoning-harness[judge]'")
        source = SourceColumns(cfg.source, provenance)
        columns = resolve_columns(cfg, cfg.judges, artifact.schema.names, source)
        logical = {"prediction", *(c for n in self.names if n in VERIFIERS for c in _columns_of(n))}
        columns = {k: c for k, c in columns.items() if k in logical}
        needs = {c.name for c in columns.values() if c.where == "source"}
        params = SamplingParams(temperature=0, max_tokens=1)  # no LLM judge runs: never sent
        rows_task = first_task(artifact.path)  # a verifier may decide a family's rows with that family's own check
        self.task_run = {"task": rows_task or provenance.get("task")}
        options = {}
        self.verifiers = {n: code_version(VERIFIERS[n].check_for(rows_task)) for n in self.names if n in VERIFIERS}
        if FORMAT in self.names:  # the options the judge run judged with (recorded since), else as it found them
            recorded = provenance.get("format_task")
            run = TaskRun(recorded["task_options"], None, recorded["task_options_from"]) if recorded else None
            run = run or task_run(judged or artifact)
            task = make_task(artifact.path, rows_task or _run_task(run), run.options)
            refuse_without_first(artifact.path, task, artifact.schema.names, run, "judge and rescore that")
            self.task_run = run.describe(task.name)
            options = {task.name: read_option_files(run.options)}
            self.verifiers[FORMAT] = code_version(check_row)
            self.verifiers[f"{task.name}.parse"] = code_version(type(task), explicit=task.version)
        self.lookup = source.values(needs)
        self.judging = QuestionJudging(self.names, columns, {}, params, options)
        self.fields = [
            pa.field(f"{PREFIX}judge_{column_name(n)}_{what}", kind)
            for n in self.names
            for what, kind in (("score", pa.float64()), ("reason", pa.string()))
        ]
        skip = {f"judge_{column_name(j)}_{what}" for j in self.not_rerun for what in ("score", "reason")}
        used = {c.name for c in columns.values() if c.where == "artifact"}
        self.read = [c for c in artifact.schema.names if c not in skip and (c != "messages" or c in used)]

    def verdict_source(self, key: str) -> tuple[str, str]:
        name = next(n for n in self.names if f"judge_{column_name(n)}" == key)
        return name, f"{key}_score"

    def rescore(self, rows: list[dict[str, Any]], keep: int) -> ChunkResult:
        out = ChunkResult({f.name: [] for f in self.fields}, {}, {})
        question = with_source(rows, self.lookup)  # one "question" of every row: the verifiers
        judged = run_record(self.judging.record(question), _no_engine).rows
        for row, new in zip(rows, judged, strict=True):  # judge rows one by one, so the chunk's size does not matter
            for name in self.names:
                key = f"judge_{column_name(name)}"
                before, now = row.get(f"{key}_score"), new[f"{key}_score"]
                out.columns[f"{PREFIX}{key}_score"].append(now)
                out.columns[f"{PREFIX}{key}_reason"].append(new[f"{key}_reason"])
                _tally(out.flips, key, _passed(before), _passed(now), row["record_id"], keep, before != now)
        return out


def make_rescorer(artifact: Artifact, provenance: dict[str, Any]) -> SynthRescorer | JudgeRescorer:
    """The rescorer for this artifact's kind; a kind with no verifiers to re-run is refused, saying why."""
    if already := [c for c in artifact.schema.names if c.startswith(PREFIX)]:
        made_from = (provenance.get("input") or {}).get("label", "the artifact it was made from")
        raise ConfigError(
            f"{artifact.path}: already rescored (it has {already[0]}, ...); rescore the artifact it was made from "
            f"({made_from}) into a new folder instead"
        )
    if artifact.kind == "judge":
        return JudgeRescorer(artifact, provenance)
    if artifact.kind == "synth":
        return SynthRescorer(artifact, provenance)
    what = {"eval": "an eval artifact (lm-eval scored it)", "pairs": "a pairs artifact (no verdicts)"}
    raise ConfigError(
        f"{artifact.path}: {what.get(artifact.kind, 'an artifact with no verdicts (not synth or judge output)')}; "
        "rescore re-runs the verdicts of a synth artifact (harness synth --output) or the verifiers of a judged "
        "one (harness judge --output)"
    )


def _tally(flips, key, before, now, record_id, keep, changed: bool | None = None) -> None:
    tally = flips.get(key)
    if tally is None:
        tally = flips[key] = Tally()
    tally.add(before, now, before != now if changed is None else changed, record_id, keep)


def _passed(score: float | None) -> bool | None:
    return None if score is None else score >= PASS_SCORE


def _columns_of(name: str) -> tuple[str, ...]:
    spec = VERIFIERS[name]
    return (*spec.columns, *spec.optional)


def _run_task(run: TaskRun) -> str | None:
    return run.synth.provenance.get("task") if run.synth is not None else None


def _judge_config(artifact: Artifact, provenance: dict[str, Any], last: Artifact | None) -> JudgeConfig:
    """The settings of the judge run that wrote the artifact (its columns, --col, --regex, --source); `last`:
    the end of the chain of artifacts it was made from, when no judge run is on it."""
    from pydantic import ValidationError

    stage = last.provenance.get("stage") if last is not None else None
    if last is not None and stage and stage != "judge" and made_from(last) is None:
        raise ConfigError(
            f"{artifact.path}: no harness judge run found up the artifacts its rows came from: {last.path} was "
            f"made by {stage} from {input_label(last.provenance)}, which is not a harness artifact here (moved or "
            "deleted); rescore reads the settings that judge run recorded: rescore the judged artifact instead"
        )
    config = provenance.get("config") if provenance.get("stage") == "judge" else None
    try:
        return JudgeConfig.model_validate(config)
    except ValidationError as err:
        raise ConfigError(
            f"{artifact.path}: its shards do not record the settings of a harness judge run ({err.errors()[0]['msg']}); "
            "rescore reads a judged artifact as `harness judge --output` wrote it"
        ) from err


def _no_engine(requests, params):
    raise RuntimeError("internal: rescore ran no LLM judge, yet one asked an engine")
