"""A Hub dataset card (README.md) for a pushed artifact: YAML metadata the Hub and `datasets` read, then prose.

The metadata declares the one config and split (`data/train-*`), the features (from the artifact's declared
Arrow schema, through `datasets`), license, tags, task categories and size category. The prose says which
recipe, model and engine produced the rows, with which sampling, what the validators (and judges, and the
MMLU table for eval artifacts) found, and the provenance: inputs and their hashes, harness version, runs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from harness import __version__
from harness.artifacts.reader import lineage_cost
from harness.artifacts.writer import generated_by, read_provenance
from harness.cost import describe
from reports.document import Table, markdown_table
from reports.mmlu import markdown_tables
from reports.sections import (
    JUDGE_NOTE,
    RULES_NOTE,
    Input,
    judge_table,
    mmlu_caption,
    mmlu_summary,
    validator_table,
)

SPLIT = "train"
DATA_GLOB = f"data/{SPLIT}-*"
# The published recipe each task family reproduces (see the README's task sections).
RECIPES = {
    "backfill": "Qwen3-4B-Reasoning-Backfill",
    "thought-variants": "Thought-Ranked Llama 3.2 3B",
    "structured": "Qwen2.5 GRPO structured reasoning",
    "star": "Memphis-CoT",
    "reasoning-token": "Qwen2.5-1.5B-O1",
}
TASK_CATEGORIES = {"eval": ["question-answering"], "judge": ["text-classification", "text-generation"]}
SIZES = ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M"))


@dataclass(frozen=True)
class PushedFiles:
    """What the card describes: the data files written and their sizes."""

    names: list[str]  # paths in the repo, e.g. data/train-00000-of-00001.parquet
    download_size: int  # bytes of those files
    rows: int
    num_bytes: int  # the rows' in-memory Arrow size, as `datasets` reports a split's num_bytes
    decontamination: str | None = None  # whether and against what the rows were checked (None: eval results)


def card_markdown(repo_id: str, item: Input, files: PushedFiles, license: str) -> str:
    """The whole README.md: `---` YAML `---`, then the prose."""
    from huggingface_hub import DatasetCardData

    metadata = DatasetCardData(
        license=license,
        pretty_name=repo_id.split("/")[-1],
        tags=_tags(item),
        task_categories=TASK_CATEGORIES.get(item.artifact.kind, ["text-generation"]),
        size_categories=[_size_category(files.rows)],
        configs=[{"config_name": "default", "data_files": [{"split": SPLIT, "path": DATA_GLOB}]}],
        dataset_info={
            "features": _features(item.artifact.schema),
            "splits": [{"name": SPLIT, "num_bytes": files.num_bytes, "num_examples": files.rows}],
            "download_size": files.download_size,
            "dataset_size": files.num_bytes,
        },
    )
    return f"---\n{metadata.to_yaml()}\n---\n\n{_prose(repo_id, item, files)}"


def _features(schema: pa.Schema) -> list[dict[str, Any]]:
    """`datasets`' own YAML form of the features, so `load_dataset` reads the columns exactly as declared."""
    from datasets import Features

    return Features.from_arrow_schema(schema)._to_yaml_list()


def _tags(item: Input) -> list[str]:
    prov = item.artifact.provenance
    tags = ["reasoning-harness", "synthetic", "reasoning", item.artifact.kind]
    tags += [str(prov[k]) for k in ("task", "benchmark") if prov.get(k)]
    return list(dict.fromkeys(tags))


def _size_category(rows: int) -> str:
    return next((name for bound, name in SIZES if rows < bound), "n>1M")


def _prose(repo_id: str, item: Input, files: PushedFiles) -> str:
    artifact, prov = item.artifact, item.artifact.provenance
    lines = [f"# {repo_id}", ""]
    lines += [
        f"{files.rows} rows in {len(files.names)} Parquet file(s), made with "
        f"reasoning-harness {prov.get('harness_version', __version__)} "
        f"(`harness {_stage_command(item)}`) and pushed by `harness push` from the artifact `{artifact.path.name}`.",
        "",
        "```python",
        "from datasets import load_dataset",
        "",
        f'ds = load_dataset("{repo_id}", split="{SPLIT}")',
        "```",
        "",
        "## How it was made",
        "",
        *_how_made(item),
        "",
    ]
    if files.decontamination is not None:
        lines += ["## Decontamination", "", f"Word n-gram overlap with eval sets: {files.decontamination}.", ""]
    lines += _results(item)
    lines += ["## Columns", "", *markdown_table(_columns_table(artifact.schema)), ""]
    lines += ["## Provenance", "", *_provenance(item), ""]
    return "\n".join(lines)


def _stage_command(item: Input) -> str:
    """The command that wrote the artifact, as a user would type it."""
    prov = item.artifact.provenance
    if item.artifact.kind == "eval":
        return f"eval {prov.get('benchmark', 'mmlu')}"
    if prov.get("stage") == "select":
        return f"select {prov.get('mode')}"
    if prov.get("stage") == "judge" or item.artifact.kind == "judge":
        return f"judge --judge {','.join(_judges(item)) or '...'}"
    return f"synth --task {prov['task']}" if prov.get("task") else item.artifact.kind


def _judges(item: Input) -> list[str]:
    judges = (item.artifact.judge_summary or {}).get("judges") or item.artifact.provenance.get("judges") or []
    return list(judges)


def _how_made(item: Input) -> list[str]:
    prov = item.artifact.provenance
    lines = _derived_from(item)
    task = prov.get("task")
    if task:
        recipe = RECIPES.get(str(task))
        lines.append(
            f"- Task `{task}` (version {prov.get('task_version')}, prompt template `{prov.get('template_hash')}`)"
            + (f", reproducing the {recipe} recipe." if recipe else ".")
        )
    if prov.get("benchmark"):
        lines.append(f"- Benchmark `{prov['benchmark']}`, mode `{prov.get('mode')}`, metric `{prov.get('metric')}`.")
    model = prov.get("model") if isinstance(prov.get("model"), dict) else generated_by(prov)
    if isinstance(model, dict):
        wrote = "Model" if model is prov.get("model") else "The texts were written by the model"
        lines.append(
            f"- {wrote} `{model.get('requested')}` ({model.get('source')}; weights fingerprint `{model.get('fingerprint')}`)."
        )
    engine = prov.get("engine")
    if engine:
        lines.append(f"- Engine: `{json.dumps(engine, sort_keys=True) if isinstance(engine, dict) else engine}`.")
    if cost := lineage_cost(item.artifact):
        lines.append(f"- Cost to make (every stage that made it, at the prices given): {describe(cost)}.")
    sampling = prov.get("sampling") or prov.get("generation_kwargs")
    if isinstance(sampling, dict) and sampling:
        lines += ["", "Sampling:", "", *markdown_table(Table(["parameter", "value"], _pairs(sampling)))]
    return lines or ["- (the artifact's provenance does not say)"]


def _derived_from(item: Input) -> list[str]:
    """For judge and select artifacts: the artifact they were made from and how."""
    prov = item.artifact.provenance
    source = prov.get("input")
    label = source.get("label") if isinstance(source, dict) else source
    if prov.get("stage") == "select":
        rule = (
            f"a score >= {prov.get('threshold')} counts as correct; each pair is (correct, incorrect)"
            if prov.get("mode") == "pairs"
            else "the best-scored answer per question"
            + (f", when its score is at least {prov['min_score']}" if prov.get("min_score") is not None else "")
        )
        invalid = "included" if prov.get("include_invalid") else "left out"
        return [
            f"- Selected from the judged artifact `{label}` by `judge_{prov.get('judge')}_score`: {rule}. "
            f"Rows that failed synth's own checks were {invalid}."
        ]
    if item.artifact.run_identity.get("derived") == "pairs":  # synth star's own pairs; each shard names its source
        samples = read_provenance(item.artifact.shards[0]).get("derived_from") if item.artifact.shards else None
        where = f" `{Path(samples).parent}`" if samples else ""
        return [
            f"- (correct, incorrect) pairs of samples of the same question, rebuilt from the synth artifact{where} "
            "after its run."
        ]
    if prov.get("stage") == "judge" or item.artifact.kind == "judge":
        summary = (item.artifact.judge_summary or {}).get("judges") or {}
        judges = ", ".join(f"`{name}` ({summary.get(name, {}).get('kind', 'judge')})" for name in _judges(item))
        llm = f", judge model `{prov.get('model')}` on `{prov.get('engine')}`" if prov.get("model") else ""
        return [f"- Judged from the artifact `{label}` by {judges or 'its judges'}{llm}."]
    return []


def _results(item: Input) -> list[str]:
    lines: list[str] = []
    if item.data.rules:
        lines += ["## Validator pass rates", "", RULES_NOTE, "", *markdown_table(validator_table([item])), ""]
    if item.data.judge_scores:
        lines += ["## Judges", "", JUDGE_NOTE, "", *markdown_table(judge_table([item])), ""]
    if item.data.mmlu:
        summary = mmlu_summary(item)
        lines += ["## MMLU", "", mmlu_caption(item, summary), "", markdown_tables(summary), ""]
    return lines


def _columns_table(schema: pa.Schema) -> Table:
    return Table(["column", "type"], [[f.name, str(f.type)] for f in schema])


def _provenance(item: Input) -> list[str]:
    prov = item.artifact.provenance
    lines = [f"- harness {prov.get('harness_version')} at git revision `{prov.get('git_revision')}`."]
    source = prov.get("input") or prov.get("dataset")
    if isinstance(source, str):  # select records its input folder alone
        lines.append(f"- Input `{source}`.")
    if isinstance(source, dict):
        lines.append(f"- Input `{source.get('label')}`:")
        files = source.get("files")
        if isinstance(files, dict):
            lines += [f"  - `{path}` sha256 `{digest}`" for path, digest in files.items()]
        lines += [f"  - {k}: `{v}`" for k, v in source.items() if k not in ("label", "files")]
    for n, run in enumerate(item.artifact.runs, start=1):
        started = run.provenance.get("started_at")
        lines.append(f"- Run {n}: started {started}, {run.rows} rows in {run.shards} shard(s), last at {run.last_written}.")  # fmt: skip
    config = prov.get("config")
    if config:
        lines += ["", "Resolved config of the latest run:", "", "```json", json.dumps(config, indent=2, default=str), "```"]  # fmt: skip
    lines += ["", "Each Parquet file's metadata (key `harness`) holds every run's full provenance."]
    return lines


def _pairs(mapping: dict[str, Any]) -> list[list[str]]:
    return [[k, json.dumps(v) if not isinstance(v, str) else v] for k, v in mapping.items() if v is not None]
