"""`harness judge --ray` with LLM judges: each question judged by an engine replica on a Ray cluster.

The same question records (`judge_record`), committer and shard writer as `_judge_all` in judge.py; only
where a question's judge requests run differs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from harness.config import JudgeConfig
from harness.engines.models import resolve_engine_model
from harness.engines.stream_loop import Committer, RecordRun
from harness.progress import StageProgress
from harness.scale.ray_replicas import Fresh, ShardFacts, joined, plan_replicas, replica_config, run_replicas
from harness.stages.judge import SHARD_QUESTIONS, JudgedQuestion, JudgeSummary, commit_questions, count_question
from harness.stages.synth_ray import announce


def judge_on_ray(
    groups: Iterable[list[dict[str, Any]]],
    record: Callable[[list[dict[str, Any]]], RecordRun[JudgedQuestion]],
    writer,
    schema,
    provenance: dict[str, Any],
    cfg: JudgeConfig,
    summary: JudgeSummary,
    progress: StageProgress,
) -> None:
    """Replicas judge the question `groups`; this process commits them as they arrive."""
    model = resolve_engine_model(cfg.model, cfg.engine, cfg.openai.base_url)
    with joined(cfg.ray.address) as cluster:
        plan = plan_replicas(cfg.ray, cluster, cfg.threads, cfg.engine)
        cluster_facts = plan.facts(cluster)
        announce(progress.console, cluster_facts)
        shard_facts = ShardFacts()

        def write(judged: list[JudgedQuestion]) -> None:
            commit_questions(writer, schema, {**provenance, **shard_facts.take(), **cluster_facts}, judged)

        committer = Committer(write, lambda q: 1, cfg.batch_size or SHARD_QUESTIONS, cfg.commit_seconds)
        fresh = Fresh(lambda question: question.rows[0]["record_id"] if question.rows else None)
        try:
            for done in run_replicas(groups, record, replica_config(cfg, plan), model.fingerprint, plan):
                shard_facts.add(done)
                summary.cache_hits += done.cache_hits
                summary.generated_tokens += done.tokens
                rows = 0
                for question in filter(fresh.new, done.results):
                    if count_question(summary, question):
                        committer.add(question)
                        rows += len(question.rows)
                progress.advance(rows, done.tokens)
        finally:
            committer.flush()  # judged questions are whole: keep them, even when the run is interrupted
