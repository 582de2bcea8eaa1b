"""`harness eval mmlu`: draw questions -> lm-eval task configs -> lm-eval -> eval artifact, summary, table.

Everything that can be wrong with the request (mode, engine, dataset, subsets) fails before a model
loads. Subjects are then evaluated in chunks of whole subjects (at least --shard-questions questions); each
chunk is one lm-eval run on the already-loaded model and one atomically committed shard. A killed run
resumes at the first unfinished chunk, and a rerun with more subjects or a larger --limit (same seed: a
smaller draw is a subset of a larger one) asks lm-eval only the new questions.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pyarrow.parquet as pq
from rich.console import Console

from harness.artifacts.schemas import eval_schema, to_table, verdict_fields
from harness.artifacts.writer import META_DIR, ArtifactWriter, base_provenance
from harness.config import ConfigError, EvalConfig
from harness.cost import Ledger
from harness.engines.base import EngineError
from harness.engines.models import resolve_engine_model
from harness.evalsets import lm_eval_adapter as lm
from harness.evalsets.mmlu import MMLUData, Question, draw, load_mmlu, resolve_subsets, subject_group, subject_section
from harness.progress import StageProgress
from reports.mmlu import MMLUSummary, markdown, markdown_tables, summarize
from reports.mmlu_card import PRESET, card_markdown, comparison_markdown

# `--mode generative --task NAME`: modules with a prompt builder and an answer parser (see tasks/structured_mc.py).
# tasks/structured_mc.py takes its prompt and sampling from the structured task (tasks/structured.py).
GENERATIVE_TASKS = {"structured": "tasks.structured_mc"}
REPORT = "README.md"  # the Markdown table; `datasets` reads a folder's README.md as its card, not as data
SUMMARY = "summary.json"


@dataclass
class EvalRun:
    output: str
    asked: int  # questions lm-eval answered in this run
    skipped: int  # drawn questions already in the artifact from an earlier run
    seconds: float
    summary: MMLUSummary
    report: Path
    summary_file: Path
    title: str
    cost: dict[str, Any] | None = None  # this run's, with --cost-per-hour (harness/cost.py)


@dataclass(frozen=True)
class _Plan:
    """What lm-eval is asked, settled before anything loads."""

    spec: lm.TaskSpec
    lm_type: str  # lm-eval's model type (hf, vllm, local-completions, ...)
    system_prompt: str | None  # generative mode


def run_eval_mmlu(cfg: EvalConfig, console: Console | None = None) -> EvalRun:
    console = console or Console(stderr=True)
    plan = _plan(cfg)
    data = load_mmlu(cfg.dataset, cfg.split, cfg.dataset_config)
    subjects = resolve_subsets(cfg.subsets, data.subjects)
    drawn = {s: draw(data.by_subject[s], cfg.limit, cfg.seed) for s in subjects}
    model = resolve_engine_model(cfg.model, cfg.engine, cfg.openai.base_url)
    identity = {
        "benchmark": "mmlu",
        "dataset": {"label": data.label, **data.fingerprint},
        "mode": cfg.mode,
        "metric": lm.METRIC[cfg.mode],
        "task": cfg.task,
        "template_hash": _template_hash(plan.spec, plan.system_prompt),
        "model": model.fingerprint,
        "engine": cfg.engine,
        "lm_eval_model": plan.lm_type,
        "generation_kwargs": plan.spec.gen_kwargs,
        "seed": cfg.seed,
        "lm_eval_version": _lm_eval_version(),
    }
    out = Path(cfg.output)
    with ArtifactWriter(out, eval_schema(), identity).open(cfg.model_dump()) as writer:
        done = writer.done_record_ids()
        pending = {s: [q for q in qs if q.record_id not in done] for s, qs in drawn.items()}
        pending = {s: qs for s, qs in pending.items() if qs}
        asked, seconds, ledger = 0, 0.0, Ledger(cfg, out)
        if pending:
            with lm.api_key_from(cfg.openai.api_key_env if cfg.engine == "openai" else None):
                asked, seconds = _ask(writer, pending, cfg, plan, model, identity, console, ledger)
        scored = _read_drawn(writer, drawn)
        summary = summarize(scored, lm.METRIC[cfg.mode], with_format=cfg.mode == "generative")
        title = f"MMLU ({cfg.mode}{', ' + cfg.task if cfg.task else ''}): {model.requested}"
        report, summary_file = _write_reports(out, cfg, data, drawn, model, summary, title, identity)
    skipped = sum(len(qs) for qs in drawn.values()) - asked
    return EvalRun(str(out), asked, skipped, seconds, summary, report, summary_file, title, ledger.total)


def _ask(writer: ArtifactWriter, pending, cfg: EvalConfig, plan: _Plan, model, identity, console, ledger: Ledger):
    """Load the model once, then one lm-eval run and one committed shard per chunk of subjects (each charged
    its engine time, the load with the first)."""
    tasks_dir = writer.meta / "lm_eval"
    args = _model_args(cfg, model.path)
    device = _device(cfg)
    console.print(f"[eval mmlu] loading {cfg.model} on {cfg.engine} ...", highlight=False, markup=False)
    since = time.perf_counter()
    model_lm = lm.load_lm(plan.lm_type, args, cfg.batch_size, device)
    lm_eval_facts = {"model": plan.lm_type, "model_args": args, "batch_size": cfg.batch_size, "device": device}
    provenance = {
        **base_provenance(),
        **identity,
        "model": model.to_dict(),
        "system_prompt": plan.system_prompt,
        "config": cfg.model_dump(),
    }
    generative = cfg.mode == "generative"
    count_tokens = _token_counter(model_lm) if generative else None
    total = sum(len(qs) for qs in pending.values())
    asked = 0
    with StageProgress(f"eval mmlu ({cfg.mode})", total, console, tokens=generative) as progress:
        for chunk in _chunks(pending, cfg.shard_questions):
            names = lm.write_tasks(tasks_dir, plan.spec, chunk)
            tasks = list(names.values())
            results = _evaluate(model_lm, tasks_dir, tasks, cfg, plan)
            rows = _rows(lm.question_rows(results, plan.spec, names, count_tokens), chunk, cfg.mode, names)
            command = lm.lm_eval_command(
                plan.lm_type, args, tasks_dir, tasks, cfg.batch_size, device, cfg.seed, plan.system_prompt
            )
            chunk_provenance = {
                **provenance,
                "drawn_ids": {s: [q.id for q in qs] for s, qs in chunk.items()},
                "lm_eval": {**lm_eval_facts, "results": results["results"], "command": command},
            }
            now, tokens = time.perf_counter(), sum(r["completion_tokens"] or 0 for r in rows)
            usage = {"completion_tokens": tokens, "engine_seconds": now - since}
            since = now
            writer.commit(to_table(rows, eval_schema()), ledger.charge({**chunk_provenance, "engine_usage": usage}))
            progress.advance(len(rows), sum(r["completion_tokens"] or 0 for r in rows))
            asked += len(rows)
    return asked, progress.elapsed


def _evaluate(model_lm, tasks_dir: Path, tasks: list[str], cfg: EvalConfig, plan: _Plan) -> dict[str, Any]:
    """lm-eval on one chunk of subjects. With a server (openai engine), a request that still fails after
    lm-eval's own retries (timeouts, 5xx, a refused key) ends the run with one line: the chunks committed so
    far stay, and the same command resumes from them. The key is never part of the line."""
    try:
        return lm.evaluate(model_lm, tasks_dir, tasks, cfg.seed, plan.system_prompt)
    except Exception as err:  # lm-eval raises what its HTTP client raised: any type
        if cfg.engine != "openai":
            raise
        detail = " ".join(f"{type(err).__name__}: {err}".split())
        key = os.environ.get(cfg.openai.api_key_env, "")
        if len(key) >= 4:
            detail = detail.replace(key, "[redacted]")
        raise EngineError(
            f"eval: a request to {cfg.openai.base_url} failed after lm-eval's retries ({detail[:300]}); "
            "the subjects done so far are kept: run the same command again to resume"
        ) from err


def _plan(cfg: EvalConfig) -> _Plan:
    """Mode, generative task, engine and sampling, checked before anything is loaded."""
    try:
        generative = _generative_task(cfg.task) if cfg.mode == "generative" else None
        lm_type = lm.lm_eval_model(cfg.engine, cfg.mode)
    except (ValueError, lm.EngineUnavailable) as err:
        raise ConfigError(str(err)) from err
    if generative is None:
        return _Plan(lm.TaskSpec(cfg.mode), lm_type, None)
    params = cfg.sampling.apply(generative.DEFAULTS)
    try:
        gen_kwargs = lm.generation_kwargs(params)
    except ValueError as err:
        raise ConfigError(f"sampling: {err}") from err
    return _Plan(lm.TaskSpec(cfg.mode, generative, gen_kwargs), lm_type, _system_prompt(cfg, generative))


def _generative_task(name: str) -> ModuleType:
    if name not in GENERATIVE_TASKS:
        raise ValueError(f"unknown generative task {name!r}; tasks are: {', '.join(sorted(GENERATIVE_TASKS))}")
    return importlib.import_module(GENERATIVE_TASKS[name])


def _system_prompt(cfg: EvalConfig, generative: ModuleType) -> str:
    text = cfg.system_prompt
    if text is None:
        return generative.SYSTEM_PROMPT
    if text.startswith("@"):
        try:
            return Path(text[1:]).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as err:
            raise ConfigError(f"system_prompt: cannot read {text[1:]} ({err})") from err
    return text


def _template_hash(spec: lm.TaskSpec, system_prompt: str | None) -> str:
    """Identifies every piece of prompt text a mode uses (not the questions)."""
    pieces: list[Any] = [spec.mode, lm.MC_TEXT, lm.CLOZE_TEXT, list(lm.LETTERS)]
    if spec.prompts is not None:
        prompts = spec.prompts
        pieces += [prompts.NAME, prompts.VERSION, system_prompt, prompts.user_prompt("{q}", ["{c}"])]
    return hashlib.sha256(json.dumps(pieces).encode()).hexdigest()[:16]


def _model_args(cfg: EvalConfig, model_path: str) -> dict[str, Any]:
    """lm-eval's model_args: the vllm engine's own `LLM` keywords (CPU defaults included), or the server."""
    if cfg.engine == "vllm":
        from harness.engines.vllm_engine import vllm_engine_args

        return lm.model_args("vllm", vllm_engine_args(model_path, threads=cfg.threads, **cfg.vllm.model_dump()))
    if cfg.engine == "openai":
        server = cfg.openai
        options = {"concurrency": server.concurrency, "max_retries": server.max_retries, "timeout": server.timeout}
        return lm.model_args("openai", {"model": model_path, "base_url": server.base_url, **options}, cfg.mode)
    return lm.model_args(cfg.engine, {"model": model_path})


def _device(cfg: EvalConfig) -> str | None:
    if cfg.engine in ("openai", "vllm"):  # a server's device is its own; vLLM picks its platform itself
        return None
    import torch

    device = cfg.device or ("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cpu":
        from harness.scale.cpu_threads import default_threads

        torch.set_num_threads(cfg.threads or default_threads())
    return device


def _token_counter(model_lm) -> Callable[[str], int] | None:
    """Generated tokens, counted with the model's own tokenizer where lm-eval's model exposes it."""
    encode = getattr(model_lm, "tok_encode", None)
    return (lambda text: len(encode(text))) if encode is not None else None


def _chunks(pending: dict[str, list[Question]], size: int) -> Iterator[dict[str, list[Question]]]:
    """Whole subjects, in order, grouped until a chunk holds at least `size` questions."""
    chunk: dict[str, list[Question]] = {}
    for subject, questions in pending.items():
        chunk[subject] = questions
        if sum(len(qs) for qs in chunk.values()) >= size:
            yield chunk
            chunk = {}
    if chunk:
        yield chunk


def _rows(scored: list[dict[str, Any]], chunk: dict[str, list[Question]], mode: str, names) -> list[dict[str, Any]]:
    """lm-eval's per-question results joined with the question itself, in the artifact's columns."""
    by_id = {q.id: q for qs in chunk.values() for q in qs}
    rows = []
    for item in scored:
        question = by_id[item["id"]]
        rows.append(
            {
                "record_id": question.record_id,
                "id": question.id,
                "subject": question.subject,
                "group": subject_group(question.subject),
                "section": subject_section(question.subject),
                "mode": mode,
                "lm_eval_task": names[question.subject],
                "question": question.question,
                "choices": list(question.choices),
                "gold": question.answer,
                "prompt": item["prompt"],
                "prediction": item["prediction"],
                "correct": item["correct"],
                "choice_logprobs": item["choice_logprobs"],
                "completion": item["completion"],
                "completion_tokens": item["completion_tokens"],
                **verdict_fields(item["verdicts"]),
            }
        )
    if len(rows) != len(by_id):
        raise RuntimeError(f"lm-eval answered {len(rows)} of {len(by_id)} questions")
    return rows


def _read_drawn(writer: ArtifactWriter, drawn: dict[str, list[Question]]) -> list[dict[str, Any]]:
    """This run's questions from the whole artifact (earlier runs included), one row each."""
    wanted = {q.record_id for qs in drawn.values() for q in qs}
    rows = {}
    for shard in writer.shards():
        for row in pq.read_table(shard, columns=["record_id", "subject", "correct", "valid"]).to_pylist():
            if row["record_id"] in wanted:
                rows[row["record_id"]] = row
    if len(rows) != len(wanted):
        raise RuntimeError(f"the artifact holds {len(rows)} of the {len(wanted)} drawn questions")
    return list(rows.values())


def _write_reports(out: Path, cfg: EvalConfig, data: MMLUData, drawn, model, summary, title, identity):
    drawn_ids = {s: [q.id for q in qs] for s, qs in drawn.items()}
    limit = f"{cfg.limit} drawn at random per subject (seed {cfg.seed})" if cfg.limit else "all questions"
    notes = [
        f"model: `{model.requested}` ({model.fingerprint}), engine {cfg.engine}",
        f"mode: {cfg.mode}, metric {summary.metric}; questions: {limit}",
        f"dataset: {data.label}; lm-eval {identity['lm_eval_version']}",
    ]
    report = out / REPORT
    text = markdown(summary, title, notes)
    if cfg.preset == PRESET:  # the card's table in its layout and names first, then ours
        ours = markdown_tables(summary)
        card = card_markdown(summary)
        beside = comparison_markdown(summary)
        text = f"{text.removesuffix(ours)}## As the card reports it\n\n{card}\n## Beside the card\n\n{beside}\n"
        text += f"## Every level\n\n{ours}"
    report.write_text(text, encoding="utf-8")
    summary_file = out / META_DIR / SUMMARY
    payload = {
        **summary.to_dict(),
        "provenance": {**base_provenance(), **identity, "model": model.to_dict(), "drawn_ids": drawn_ids},
        "config": cfg.model_dump(),
    }
    summary_file.write_text(json.dumps(payload, indent=2, default=str), encoding="utf-8")
    return report, summary_file


def _lm_eval_version() -> str:
    from importlib.metadata import version

    return version("lm_eval")
