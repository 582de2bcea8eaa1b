"""The report's sections, built from what each artifact holds. Every section is optional: it shows what the
inputs have and says in one line what is absent otherwise, so any set of artifacts makes a whole report."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.artifacts.reader import Artifact
from harness.cost import describe
from reports import plots
from reports.collect import Collected, answer_column, trace_columns
from reports.data_checks import data_checks_sections
from reports.document import Image, Section, Table
from reports.mmlu import MMLUSummary, card_rows, group_rows, summarize
from reports.rescore import rescore_sections

NONE = "—"


@dataclass
class Input:
    """One artifact of the report: its label (`#1 name`), what it is, and its counts."""

    index: int
    artifact: Artifact
    data: Collected

    @property
    def label(self) -> str:
        return f"#{self.index} {self.artifact.path.name}"

    @property
    def slug(self) -> str:
        return f"a{self.index}"


def build_sections(inputs: list[Input]) -> list[Section]:
    return [
        mmlu_section(inputs),
        validator_section(inputs),
        length_section(inputs),
        judge_section(inputs),
        usage_section(inputs),
        lineage_section(inputs),
        *data_checks_sections(inputs),  # only when an input has usefulness scores or decontam marks
        *rescore_sections(inputs),  # only when an input is a `harness rescore` output
    ]


# What each optional section says when no input has its data.
ABSENT = {
    "MMLU": "No eval artifact among the inputs: run `harness eval mmlu` for the per-subject table.",
    "Validator pass rates": "No artifact among the inputs has verdicts (synth and generative eval artifacts do).",
    "Trace and answer lengths": "No artifact among the inputs has completions, traces or answers to measure.",
    "Judge scores": "No judge artifact among the inputs (no `judge_<NAME>_score` columns): run `harness judge`.",
}


def _start(title: str, inputs: list[Input], has: Callable[[Input], bool]) -> tuple[Section, list[Input]]:
    """A section and the inputs that have its data; with none, the section says what is absent."""
    present = [i for i in inputs if has(i)]
    return Section(title, absent=None if present else ABSENT[title]), present


# -- MMLU ----------------------------------------------------------------------------------------------------
def mmlu_section(inputs: list[Input]) -> Section:
    section, evals = _start("MMLU", inputs, lambda i: bool(i.data.mmlu))
    for item in evals:
        summary = mmlu_summary(item)
        section.blocks.append(mmlu_caption(item, summary))
        header, rows = card_rows(summary)
        section.blocks.append(Table(header, [cells for cells, _ in rows], {i for i, (_, t) in enumerate(rows) if t}))
        section.blocks.append(Table(*group_rows(summary)))
        subjects = [cells[0] for cells, total in rows if not total]
        scores = [summary.subjects[s] for s in subjects]
        png = plots.subject_accuracy(
            subjects,
            [s.accuracy for s in scores],
            [s.stderr or 0.0 for s in scores],
            f"{item.label}: {_model(item.artifact.provenance)}",
        )
        section.blocks.append(Image(f"{item.slug}-mmlu.png", png, f"MMLU accuracy per subject, {item.label}"))
    return section


def mmlu_summary(item: Input) -> MMLUSummary:
    identity = item.artifact.run_identity
    mode = identity.get("mode")
    return summarize(item.data.mmlu, identity.get("metric", "acc"), with_format=mode == "generative")


def mmlu_caption(item: Input, summary: MMLUSummary) -> str:
    mode = item.artifact.run_identity.get("mode") or NONE
    return f"{item.label}: `{_model(item.artifact.provenance)}`, mode {mode}, metric {summary.metric}."


# -- validators ----------------------------------------------------------------------------------------------
def validator_section(inputs: list[Input]) -> Section:
    section, checked = _start("Validator pass rates", inputs, lambda i: bool(i.data.rules))
    if not checked:
        return section
    section.blocks += [RULES_NOTE, validator_table(checked)]
    for item in checked:
        rules = list(item.data.rules)
        rates = [p / n if n else 0.0 for n, p in item.data.rules.values()]
        png = plots.pass_rates(rules, rates, f"{item.label}: validator pass rates")
        section.blocks.append(Image(f"{item.slug}-validators.png", png, f"validator pass rates, {item.label}"))
    return section


RULES_NOTE = (
    "A rule counts the rows it checked: a row rejected by an earlier rule (or a rejected input) may not reach it."
)


def validator_table(inputs: list[Input]) -> Table:
    """Per artifact and rule: rows checked, passed, pass rate; then the share of rows valid under every rule."""
    rows: list[list[str]] = []
    totals: set[int] = set()
    for item in inputs:
        for rule, (n, passed) in item.data.rules.items():
            rows.append([item.label, rule, str(n), str(passed), _percent(passed, n)])
        if item.data.valid is not None:
            totals.add(len(rows))
            rows.append([item.label, "valid (every rule)", str(item.data.rows), str(item.data.valid), _percent(item.data.valid, item.data.rows)])  # fmt: skip
    return Table(["artifact", "rule", "checked", "passed", "pass rate"], rows, totals)


# -- lengths -------------------------------------------------------------------------------------------------
def length_section(inputs: list[Input]) -> Section:
    # A column whose values are all null (answers a model never reached) has nothing to measure.
    section, measured = _start("Trace and answer lengths", inputs, lambda i: any(i.data.lengths.values()))
    if not measured:
        return section
    section.blocks.append(
        "`completion`: the whole generated text, in the engine's own token count (`completion_tokens`). "
        "`trace` and `answer`: the parsed reasoning and the final answer, tokenized with the artifact's model "
        "tokenizer (in words where that tokenizer is not on this machine)."
    )
    rows = []
    for item in measured:
        xlabels = _length_labels(item)
        lengths = {name: counts for name, counts in item.data.lengths.items() if counts}
        for name, counts in lengths.items():
            total = sum(counts.values())
            mean = sum(v * c for v, c in counts.items()) / total
            rows.append([item.label, name, xlabels[name], str(total), f"{mean:.1f}", str(min(counts)), str(max(counts))])  # fmt: skip
        png = plots.histograms(lengths, xlabels, f"{item.label}: lengths")
        section.blocks.append(Image(f"{item.slug}-lengths.png", png, f"length histograms, {item.label}"))
    section.blocks.insert(1, Table(["artifact", "what", "column(s), unit", "rows", "mean", "min", "max"], rows))
    return section


def _length_labels(item: Input) -> dict[str, str]:
    unit = item.data.length_unit
    return {
        "completion": "completion_tokens (engine tokens)",
        "trace": f"{' + '.join(trace_columns(item.artifact))} ({unit})",
        "answer": f"{answer_column(item.artifact)} ({unit})",
    }


# -- judges --------------------------------------------------------------------------------------------------
def judge_section(inputs: list[Input]) -> Section:
    section, judged = _start("Judge scores", inputs, lambda i: bool(i.data.judge_scores))
    if not judged:
        return section
    section.blocks += [
        f"{item.label}: no `judge_summary.json`, so kind, ties and agreement are unknown."
        for item in judged
        if item.artifact.judge_summary is None
    ]
    section.blocks += [JUDGE_NOTE, judge_table(judged)]
    for item in judged:
        for name, histogram in item.data.judge_scores.items():
            png = plots.score_bars(histogram, item.data.judge_undecided[name], f"{item.label}: judge {name}")
            section.blocks.append(Image(f"{item.slug}-judge-{name}.png", png, f"judge {name} scores, {item.label}"))
    return section


JUDGE_NOTE = (
    "Scores are counted from the `judge_<NAME>_score` columns; kind, unparsable replies, ties, position-swap "
    "agreement (the share of pairs judged the same with the two answers swapped) and requests come from "
    "`judge_summary.json`."
)


def judge_table(inputs: list[Input]) -> Table:
    header = ["artifact", "judge", "kind", "rows", "scored", "undecided", "unparsable", "ties", "position-swap agreement", "requests"]  # fmt: skip
    rows = []
    for item in inputs:
        summaries = (item.artifact.judge_summary or {}).get("judges", {})
        for name, histogram in item.data.judge_scores.items():
            facts = summaries.get(name, {})
            scored, undecided = sum(histogram.values()), item.data.judge_undecided[name]
            agreement = facts.get("position_swap_agreement")
            rows.append(
                [
                    item.label,
                    name,
                    str(facts.get("kind", NONE)),
                    str(scored + undecided),
                    str(scored),
                    str(undecided),
                    _or_none(facts.get("unparsable")),
                    _or_none(facts.get("ties")),
                    f"{100 * agreement:.1f}%" if isinstance(agreement, int | float) else NONE,
                    _or_none(facts.get("requests")),
                ]
            )
    return Table(header, rows)


# -- token usage and throughput ------------------------------------------------------------------------------
def usage_section(inputs: list[Input]) -> Section:
    section = Section("Token usage and throughput")
    section.blocks.append(
        "Wall time runs from each run's start to its last committed shard (model load included); a resumed "
        "artifact sums its runs. Rows replayed from the generation cache make throughput look higher."
    )
    header = ["artifact", "stage", "rows", "runs", "prompt tokens", "completion tokens", "wall s", "rows/s", "completion tok/s"]  # fmt: skip
    priced = any(item.artifact.cost for item in inputs)  # a cost column only when a run was priced
    header += ["cost"] if priced else []
    rows = []
    for item in inputs:
        runs = item.artifact.runs
        seconds = sum(r.seconds or 0.0 for r in runs)
        data = item.data
        rows.append(
            [
                item.label,
                _stage(item.artifact),
                str(data.rows),
                str(len(runs)),
                str(data.prompt_tokens) if item.artifact.has("prompt_tokens") else NONE,
                str(data.completion_tokens) if "completion" in data.lengths else NONE,  # all null: not generative
                f"{seconds:.1f}" if seconds else NONE,
                f"{data.rows / seconds:.2f}" if seconds else NONE,
                f"{data.completion_tokens / seconds:.1f}" if seconds and data.completion_tokens else NONE,
                *([describe(item.artifact.cost) if item.artifact.cost else NONE] if priced else []),
            ]
        )
    if priced:
        section.blocks.append(
            "Cost: what each artifact's runs were charged at the prices they were given (freshly generated work only: cache hits cost nothing)."
        )
    section.blocks.append(Table(header, rows))
    return section


# -- lineage -------------------------------------------------------------------------------------------------
def lineage_section(inputs: list[Input]) -> Section:
    section = Section("Lineage")
    section.blocks.append("Which inputs, models and settings produced each artifact (from its shards' provenance).")
    header = ["artifact", "stage", "produced from", "model", "engine", "settings", "harness", "config"]
    rows = []
    for item in inputs:
        prov = item.artifact.provenance
        config = item.artifact.config_file
        rows.append(
            [
                item.label,
                _stage(item.artifact),
                _source(prov, inputs),
                _model(prov),
                _engine(prov),
                _settings(prov),
                f"{prov.get('harness_version', NONE)} @ {(prov.get('git_revision') or NONE)[:12]}",
                str(config) if config else NONE,
            ]
        )
    section.blocks.append(Table(header, rows))
    section.blocks += [f"{i.label}: `{i.artifact.path}`, {i.artifact.rows} rows in {len(i.artifact.shards)} shards." for i in inputs]  # fmt: skip
    return section


def _stage(artifact: Artifact) -> str:
    prov = artifact.provenance
    detail = prov.get("task") or prov.get("benchmark") or ""
    if artifact.kind == "judge":
        detail = ", ".join(sorted((artifact.judge_summary or {}).get("judges", {}))) or detail
    return f"{artifact.kind} {detail}".strip()


def _model(prov: dict[str, Any]) -> str:
    model = prov.get("model")
    if isinstance(model, dict):
        return f"{model.get('requested')} ({str(model.get('fingerprint', ''))[:16]})"
    return str(model) if model else NONE


def _engine(prov: dict[str, Any]) -> str:
    engine = prov.get("engine")
    if isinstance(engine, dict):
        return str(engine.get("engine", NONE))
    return str(engine) if engine else NONE


def _settings(prov: dict[str, Any]) -> str:
    """`name value` pairs a reader can scan (sampling's own settings inline), not a JSON dump; unset ones left out."""
    keys = ("mode", "metric", "seed", "task_version", "template_hash")
    settings = {**(prov.get("sampling") or {}), **{k: prov[k] for k in keys if k in prov}}
    shown = [f"{name} {_setting_value(value)}" for name, value in settings.items() if value not in (None, [], {})]
    return ", ".join(shown) or NONE


def _setting_value(value: Any) -> str:
    if isinstance(value, list | tuple):
        return " / ".join(json.dumps(v) if isinstance(v, str) else str(v) for v in value)
    return str(value)


def _source(prov: dict[str, Any], inputs: list[Input]) -> str:
    """The input's label and hash; `= #k` when that input is another artifact of this report."""
    source = prov.get("input") or prov.get("dataset")
    if not source:
        return NONE
    if not isinstance(source, dict):  # select records its input folder alone
        source = {"label": source}
    label = str(source.get("label", NONE))
    files = source.get("files") or {}
    digests = ", ".join(f"sha256 {str(h)[:12]}" for h in list(files.values())[:2]) if isinstance(files, dict) else ""
    digests = digests or (f"sha256 {str(source['sha256'])[:12]}" if source.get("sha256") else "")
    paths = {_resolved(label), *(_resolved(str(f)).parent for f in files)} if isinstance(files, dict) else set()
    produced_by = [i.label for i in inputs if _resolved(str(i.artifact.path)) in paths]
    link = f" = {produced_by[0]}" if produced_by else ""
    return f"{label}{link}" + (f" ({digests})" if digests else "")


def _resolved(path: str) -> Path:
    try:
        return Path(path).resolve()
    except (OSError, RuntimeError):
        return Path(path)


def _percent(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}%" if whole else NONE


def _or_none(value: Any) -> str:
    return NONE if value is None else str(value)
