"""`harness judge`, `harness rescore`, `harness select MODE`, `harness decontam`: verify, choose and check rows.

Their flags are JudgeConfig's, RescoreConfig's, SelectConfig's and DecontamConfig's (harness/config/commands.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer
from rich.table import Table

from harness.cli.cost import cost_row, stop_if_budget
from harness.cli.errors import console, done
from harness.cli.options import command
from harness.config import DecontamConfig, JudgeConfig, RescoreConfig, SelectConfig
from harness.stages.registry import run_stage

if TYPE_CHECKING:
    from harness.stages.judge_summary import JudgeSummary


def _judge(cfg: JudgeConfig) -> None:
    summary = run_stage("judge", cfg, console)
    console.print(judge_table(summary))
    typer.echo(summary.output)  # stdout carries only the artifact path, for scripts
    stop_if_budget(summary)


def judge_table(summary: JudgeSummary) -> Table:
    from judges.calibration import describe as describe_judge

    table = Table(title="judge summary", show_header=False)
    line = f"{summary.rows} rows of {summary.questions} questions"
    if summary.rows_skipped:
        line += f"; {summary.rows_skipped} rows were already judged"
    table.add_row("this run", line)
    if summary.failed_questions:
        table.add_row("failed", f"{summary.failed_questions} questions (engine errors): a rerun judges them again")
    if summary.context_overflow_questions:
        table.add_row(
            "past the context",
            f"{summary.context_overflow_questions} questions: a judge request (its prompt, with the answers, plus "
            "--max-tokens) does not fit the judge model's context, so those rows' judge_<NAME>_score is null and "
            "its reason gives the sizes; a rerun skips them (it would be refused again). To judge them, shorten "
            "those answers, or judge into a new --output with a lower --max-tokens or a judge --model with a "
            "longer context (vllm: a higher --max-model-len)",
        )
    if summary.requests:
        table.add_row(
            "judge requests",
            f"{summary.requests} ({summary.cache_hits} from cache), {summary.generated_tokens} tokens "
            f"in {summary.seconds:.1f}s",
        )
    cost_row(table, summary)
    for name, s in summary.judges.items():
        table.add_row(f"{name} ({s['kind']})", describe_judge(s))
    if summary.format_task:  # which options `format` judged with: the synth run's, or the task's defaults
        run = summary.format_task
        task = run["task"] or "the task each row names (its task column)"  # a user's file: no one task to name
        options = f"task options {run['task_options']} from " if run["task_options"] else ""
        table.add_row("format judged with", f"{task}, {options}{run['task_options_from']}")
    table.add_row("artifact", f"{summary.output}/*.parquet; calibration: {summary.summary_file}")
    return table


judge = command(
    JudgeConfig,
    _judge,
    """Judge every row of an artifact or of your own rows (any input synth reads): verifiers and LLM judges add
    judge_<NAME>_score/_reason columns. In a file of your own, --col group=COLUMN makes a question of the rows
    that share COLUMN.

    Example: harness judge --input runs/star --judge exact,math,reasoning-gym --output runs/star-judged
    """,
    file_help="YAML config; flags override it. Its `vllm:`/`openai:` sections take every engine setting.",
)


def _rescore(cfg: RescoreConfig) -> None:
    summary = run_stage("rescore", cfg, console)
    table = Table(title=f"rescore: flips per verdict ({summary.kind} artifact)")
    for column in ("verdict", "rows", "pass->fail", "fail->pass", "other"):
        table.add_column(column, justify="left" if column == "verdict" else "right")
    for name, v in summary.verdicts.items():
        table.add_row(name, *(str(v[k]) for k in ("compared", "pass_to_fail", "fail_to_pass", "other")))
    console.print(table)
    for name, v in summary.verdicts.items():  # whole record ids, one line each: a table column would cut them
        for direction, ids in v["examples"].items():
            if ids:
                console.print(
                    f"{name} {direction.replace('_to_', '->')}: {', '.join(ids)}", highlight=False, soft_wrap=True
                )
    console.print("verifiers: " + ", ".join(f"{n} {v}" for n, v in summary.verifiers.items()), highlight=False)
    for judge, why in summary.not_rerun.items():
        console.print(f"not re-run: {judge} ({why})", highlight=False)
    for why, rows in summary.not_rescored.items():
        console.print(f"not rescored: {rows} rows, {why}", highlight=False)
    skipped = f"; {summary.skipped} rows were rescored by an earlier run" if summary.skipped else ""
    done(
        f"{summary.rows} rows rescored in {summary.seconds:.1f}s{skipped}; {summary.flipped} verdict flips; "
        f"flip table: {summary.report_file} -> {summary.output}",
        summary.output,
    )


rescore = command(
    RescoreConfig,
    _rescore,
    """Re-run today's verifiers on an artifact's stored rows (no engine): rescored_* columns and a flip table.

    A synth artifact: its task's verdicts on the stored completions. A judged one: the verifier judges it ran
    (LLM judges are not re-run). OUTPUT/rescore.json: per verdict, rows that went pass->fail and fail->pass.
    Example: harness rescore --input runs/structured --output runs/structured-rescored
    """,
)


def _select(cfg: SelectConfig) -> None:
    summary = run_stage("select", cfg, console)
    done(
        f"{summary.rows} {cfg.mode} rows from {summary.questions} questions "
        f"({summary.without_row} gave none) by judge_{summary.judge}_score -> {summary.output}",
        summary.output,
    )


select = command(
    SelectConfig,
    _select,
    """Training rows from judged rows: the best answer per question, or (correct, incorrect) pairs.

    The input is harness judge's output, or your own rows with a judge_<NAME>_score column (--col group=,
    prompt=, response= map its columns).

    Example: harness select best-of-n --input runs/variants-judged --judge rank --output runs/sft
    """,
)


def _decontam(cfg: DecontamConfig) -> None:
    summary = run_stage("decontam", cfg, console)
    sets = ", ".join(f"{s['name']} ({s['items']} items)" for s in summary.against)
    left = f", {summary.dropped} dropped" if cfg.drop else ""
    skipped = f"; {summary.skipped} rows were checked by an earlier run" if summary.skipped else ""
    done(
        f"{summary.contaminated} of {summary.rows} rows share a {cfg.ngram}-gram with {sets}{left} "
        f"({summary.ngrams} eval n-grams, {summary.seconds:.1f}s){skipped} -> {summary.output}",
        summary.output,
    )


decontam = command(
    DecontamConfig,
    _decontam,
    """Mark rows that share a word n-gram with an eval set (decontam_clean, the matched item and n-gram).

    `harness train` and `harness push` refuse input that never went through decontam (unless --allow-unchecked)
    and leave its contaminated rows out.
    Example: harness decontam --input runs/sft --against mmlu --output runs/sft-clean
    """,
)
