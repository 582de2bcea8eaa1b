"""The model card (README.md) `harness push` writes for a model folder made by `harness train`: what it was
trained from and how, on which data (with that artifact's provenance and, when recorded, its decontamination
status), how training ended, and what a loop measured. Everything comes from files the harness wrote: the
folder's `harness-train.json`, the training artifact's Parquet metadata, and the loop's `loop.json`."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import yaml

from harness.cost import describe
from harness.engines.models import DEFAULT_MODEL, DEFAULT_NAME

DEFAULT_HUB_ID = f"HuggingFaceTB/{DEFAULT_NAME}"  # what the bundled default model was converted from


@dataclass
class ModelFacts:
    repo_id: str
    provenance: dict[str, Any]  # harness-train.json
    data_kind: str | None = None  # the training artifact's kind (synth, pairs, judge ...), when readable
    data_runs: list[dict[str, Any]] = field(default_factory=list)  # its runs' provenance
    data_cost: dict[str, Any] | None = None  # what the data cost to make, its lineage included, when priced
    measured: dict[str, Any] | None = None  # {"start": eval, "round": eval, "round_number": K} from loop.json
    adapter: bool = False  # the folder holds a LoRA adapter, not a whole model
    license: str = "unknown"


def model_card(facts: ModelFacts) -> str:
    prov = facts.provenance
    base = prov.get("model", {})
    result = prov.get("result", {})
    config = prov.get("identity", {}).get("config", {})
    metadata = {
        "license": facts.license,
        "library_name": "peft" if facts.adapter else "transformers",
        "tags": ["reasoning-harness", "trl", prov.get("method", "train")],
    }
    if hub_id := _base_hub_id(base):
        metadata["base_model"] = hub_id
    lines = ["---", yaml.safe_dump(metadata, sort_keys=False).strip(), "---", "", f"# {facts.repo_id}", ""]
    lines += [
        f"Trained with `harness train {prov.get('method')}` (reasoning-harness {prov.get('harness_version')}, "
        f"git {prov.get('git_revision') or 'unknown'}) from **{base.get('requested')}** "
        f"(`{base.get('fingerprint')}`)." + (" This repo holds a LoRA adapter." if facts.adapter else ""),
        "",
        "## Training",
        "",
        f"- recipe: {prov.get('recipe') or 'flags only'}",
        f"- rows: {prov.get('rows', {}).get('used')} used, {result.get('steps')} steps "
        f"in {result.get('seconds', 0):.0f}s on {prov.get('processes', 1)} process(es)",
        f"- training loss: first {_number(result.get('first_loss'))}, final {_number(result.get('last_loss'))}",
        f"- library versions: {', '.join(f'{k} {v}' for k, v in prov.get('versions', {}).items())}",
        "",
        "Hyperparameters (the resolved recipe and flags):",
        "",
        "```yaml",
        yaml.safe_dump(_set(config), sort_keys=True).strip(),
        "```",
        "",
        *_data_section(prov, facts.data_kind, facts.data_runs),
        *(
            [f"Cost of the training data (every stage that made it): {describe(facts.data_cost)}.", ""]
            if facts.data_cost
            else []
        ),
        *_eval_section(facts.measured),
    ]
    return "\n".join(lines) + "\n"


def _data_section(prov: dict[str, Any], kind: str | None, runs: list[dict[str, Any]]) -> list[str]:
    data = prov.get("input", {})
    lines = ["## Training data", "", f"`{data.get('label')}`; file hashes:", ""]
    lines += [f"- `{name}`: `{digest}`" for name, digest in sorted(data.get("files", {}).items())]
    lines.append("")
    if not runs:
        lines += [
            "The artifact's provenance could not be read here (it is not a harness artifact on this machine).",
            "",
        ]
        return lines
    lines += [f"A `{kind}` artifact, made by (its provenance, oldest run first):", ""]
    lines += [f"- {_run_line(run)}" for run in runs]
    status = _decontamination(prov, runs)
    lines += ["", f"Decontamination: {status}" if status else "Decontamination: not recorded.", ""]
    return lines


def _eval_section(measured: dict[str, Any] | None) -> list[str]:
    if not measured:
        return []
    start, this = measured.get("start"), measured["round"]
    lines = ["## Evaluation", "", "| model | benchmark | questions | accuracy |", "|---|---|---|---|"]
    if start:
        lines.append(f"| the starting model | {start['benchmark']} | {start['questions']} | {start['accuracy']:.3f} |")
    lines.append(
        f"| this model (loop round {measured['round_number']}) | {this['benchmark']} | {this['questions']} | "
        f"{this['accuracy']:.3f} |"
    )
    return [*lines, "", "Both on the same drawn questions (`harness loop --eval`).", ""]


def _run_line(run: dict[str, Any]) -> str:
    """One run that wrote the artifact: its stage or task, model, engine, input and start."""
    model = run.get("model")
    model = model.get("requested") if isinstance(model, dict) else model
    parts = [f"`harness {run['stage']}`" if run.get("stage") else None]
    parts += [f"task {run['task']}" if isinstance(run.get("task"), str) else None]
    parts += [f"model `{model}`" if model else None, f"engine {run['engine']}" if run.get("engine") else None]
    parts += [f"input `{run['input']}`" if isinstance(run.get("input"), str) else None]
    parts += [f"at {run['started_at']}" if run.get("started_at") else None]
    return ", ".join(p for p in parts if p) or "a run with no recorded settings"


def _decontamination(prov: dict[str, Any], runs: list[dict[str, Any]]) -> str | None:
    """What `harness train` recorded of its input's decontamination (`harness decontam` found in the input's
    provenance chain), else what a run of the data's own provenance says, if anything."""
    checked = prov.get("decontam")
    if isinstance(checked, dict):
        from harness.evalsets.gate import DecontamStatus

        return DecontamStatus(**checked).describe()
    for run in reversed(runs):
        for key in ("decontamination", "decontaminated"):
            if key in run:
                value = run[key]
                return value if isinstance(value, str) else json.dumps(value, default=str)
    return None


def _base_hub_id(base: dict[str, Any]) -> str | None:
    if base.get("requested") == DEFAULT_MODEL:
        return DEFAULT_HUB_ID
    return base.get("requested") if base.get("source") == "hub" else None


def _set(config: dict[str, Any]) -> dict[str, Any]:
    """The settings that say something: unset (None) and empty ones left out."""
    return {k: v for k, v in config.items() if v not in (None, {}, []) and k not in ("input", "output")}


def _number(value: Any) -> str:
    return "n/a" if value is None else f"{value:.4f}"
