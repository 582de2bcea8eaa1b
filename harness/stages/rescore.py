"""`harness rescore`: the current verifiers re-run on an artifact's stored rows, with no engine; a flip table.

When a verifier changes, the rows it judged need not be generated again: this stage reads an artifact (a synth
run's, or a judged one's), runs today's verifiers on the stored completions (rescore_verdicts.py says which and
how), and writes the same rows, in the same order with the same record ids, with `rescored_*` columns beside the
stored ones. Each shard's provenance holds every verifier's version (`verifiers`) and that shard's flips
(`rescore_flips`); `DIR/rescore.json` sums them over the artifact: per verdict, the rows that went pass -> fail
and fail -> pass, with example record ids. A verifier whose code did not change flips nothing.

The input is streamed in chunks of `--batch-size` rows, each committed as one shard with the input rows it
covers (`input_span`, as decontam does), so memory holds one chunk and a killed run resumes after its last
committed chunk. A verifier that changed between a kill and the rerun is refused (the versions are the run's
identity): one output never mixes two versions.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
from rich.console import Console

from harness.artifacts.reader import open_artifact, row_chunks
from harness.artifacts.sources import InputError, open_source
from harness.artifacts.writer import (
    META_DIR,
    ArtifactWriter,
    base_provenance,
    generated_by,
    read_provenance,
    write_json_atomic,
)
from harness.config import ConfigError, RescoreConfig
from harness.progress import StageProgress
from harness.stages.judge_columns import DEFAULT_COLUMNS
from harness.stages.rescore_verdicts import PASS_SCORE, PREFIX, Tally, make_rescorer
from reports.rescore import RESCORE_FILE  # in DIR itself, as judge_summary.json: `harness report DIR` shows it


@dataclass
class RescoreSummary:
    output: str
    kind: str  # synth or judge: what was re-run
    verifiers: dict[str, str]  # verifier -> its version
    rows: int = 0  # rows this run read and wrote
    skipped: int = 0  # rows an earlier run had rescored
    seconds: float = 0.0
    artifact_rows: int = 0
    verdicts: dict[str, dict[str, Any]] = field(default_factory=dict)  # rescore.json's flip table, whole artifact
    not_rerun: dict[str, str] = field(default_factory=dict)  # judge -> why its scores were kept
    not_rescored: dict[str, int] = field(default_factory=dict)  # why -> rows with nothing to re-run

    @property
    def report_file(self) -> str:
        return str(Path(self.output) / RESCORE_FILE)

    @property
    def flipped(self) -> int:
        return sum(v["pass_to_fail"] + v["fail_to_pass"] for v in self.verdicts.values())


def run_rescore(cfg: RescoreConfig, console: Console | None = None) -> RescoreSummary:
    console = console or Console(stderr=True)
    _refuse_plain_rows(cfg.input)
    artifact = open_artifact(cfg.input)
    if Path(cfg.output).resolve().is_relative_to(artifact.path.resolve()):
        raise ConfigError(f"--output {cfg.output}: is the input artifact or inside it; give it a folder of its own")
    upstream = read_provenance(artifact.shards[0])
    rescorer = make_rescorer(artifact, upstream)
    schema = pa.schema([*artifact.schema, *rescorer.fields])
    identity = {"input": str(artifact.path), "kind": rescorer.kind, "verifiers": rescorer.verifiers}
    provenance = {
        **base_provenance(),
        "stage": "rescore",
        "input": {"label": str(artifact.path), "files": {s.name: s.stat().st_size for s in artifact.shards}},
        "verifiers": rescorer.verifiers,
        "rescored_task": rescorer.task_run,  # synth rows: the options of the synth run up their inputs
        "not_rerun": rescorer.not_rerun,
        "generated_by": generated_by(upstream),  # the rows' model: rescore generates nothing
        "config": cfg.model_dump(),
    }
    summary = RescoreSummary(str(Path(cfg.output)), rescorer.kind, rescorer.verifiers, not_rerun=rescorer.not_rerun)
    with ArtifactWriter(Path(cfg.output), schema, identity).open(cfg.model_dump()) as writer:
        start = max((read_provenance(s).get("input_span", [0, 0])[1] for s in writer.shards()), default=0)
        summary.skipped = start
        with StageProgress("rescore", artifact.rows - start, console, tokens=False) as progress:
            for first, table in row_chunks(
                artifact.batches(artifact.schema.names, cfg.batch_size), cfg.batch_size, start
            ):
                result = rescorer.rescore(table.select(rescorer.read).to_pylist(), cfg.examples)
                for new in rescorer.fields:
                    table = table.append_column(new, pa.array(result.columns[new.name], new.type))
                flips = {
                    "verdicts": {k: t.to_dict() for k, t in result.flips.items()},
                    "not_rescored": result.not_rescored,
                }
                span = {"input_span": [first, first + table.num_rows], "rescore_flips": flips}
                writer.commit(table.cast(schema), {**provenance, **span})
                summary.rows += table.num_rows
                progress.advance(table.num_rows, 0)
            summary.seconds = progress.elapsed
        if not writer.has_shards():  # an artifact of no rows: an empty shard keeps the folder loadable
            writer.commit(schema.empty_table(), {**provenance, "input_span": [0, 0]})
        summary.artifact_rows = writer.rows_written()
        _sum_flips(summary, writer.shards(), cfg.examples, rescorer)
    write_json_atomic(Path(summary.report_file), _report(summary, artifact.path, rescorer.task_run))
    return summary


def _refuse_plain_rows(spec: str) -> None:
    """A user's own rows (a file, a folder the harness did not write) hold no stored verdicts to compare with:
    refused, saying so and giving the `harness judge` command that verifies them instead."""
    path = Path(spec).expanduser()
    if not (path.is_file() or (path.is_dir() and not (path / META_DIR).is_dir())):
        return
    try:
        names = open_source(spec, {}).columns
    except InputError:
        return  # not rows either: open_artifact says what the folder lacks
    out = path.parent / f"{path.stem if path.is_file() else path.name}-judged"
    command = f"harness judge --input {shlex.quote(spec)}"
    prediction = next((c for c in DEFAULT_COLUMNS["prediction"] if c in names), None)
    gold = next((c for c in DEFAULT_COLUMNS["gold"] if c in names), None)
    if "task" in names:  # rows a harness synth run made: `format` runs their task's parse again, as rescore does
        advice = f"{command} --judge format --output {shlex.quote(str(out))}"
    elif prediction and gold:
        cols = f"--col prediction={shlex.quote(prediction)} --col gold={shlex.quote(gold)}"
        advice = f"{command} --judge exact {cols} --output {shlex.quote(str(out))}"
    else:
        advice = (
            f"{command} --judge exact --col prediction=COLUMN --col gold=COLUMN --output {shlex.quote(str(out))} "
            f"with the columns of the answers and of the right answers among its columns: {', '.join(names)}"
        )
    raise ConfigError(
        f"{spec}: is not a harness artifact folder, and rescore needs one: it re-runs the verifiers of the synth or "
        f"judge run that made the rows, with that run's options, as the artifact's shards record them (their "
        f"provenance), and compares the new verdicts with the stored ones. To verify these rows, judge them: "
        f"`{advice}`"
    )


def _sum_flips(summary: RescoreSummary, shards: list[Path], keep: int, rescorer) -> None:
    """The whole artifact's flip table, from every shard's own (a resumed run's earlier shards included)."""
    totals: dict[str, Tally] = {}
    for shard in shards:
        flips = read_provenance(shard).get("rescore_flips") or {}
        for key, tally in (flips.get("verdicts") or {}).items():
            totals.setdefault(key, Tally()).merge(tally, keep)
        for why, rows in (flips.get("not_rescored") or {}).items():
            summary.not_rescored[why] = summary.not_rescored.get(why, 0) + rows
    for key, tally in totals.items():
        verifier, column = rescorer.verdict_source(key)
        summary.verdicts[key] = {
            "verifier": verifier,
            "version": summary.verifiers.get(verifier),
            "column": column,
            "rescored_column": PREFIX + column,
            **tally.to_dict(),
        }


def _report(summary: RescoreSummary, source: Path, task_run: dict[str, Any]) -> dict[str, Any]:
    return {
        "input": str(source),
        "output": summary.output,
        "kind": summary.kind,
        "task": task_run.get("task"),
        "task_options": task_run.get("task_options"),  # synth rows: those of the synth run that made them
        "task_options_from": task_run.get("task_options_from"),  # or why the task's defaults are
        "rows": summary.artifact_rows,
        "not_rescored": summary.not_rescored,
        "verifiers": summary.verifiers,
        "pass_score": PASS_SCORE if summary.kind == "judge" else None,  # a judge's score that passes
        "verdicts": summary.verdicts,
        "not_rerun": summary.not_rerun,
    }
