"""What a `harness judge` run reports: `JudgeSummary`, this run's counts (the CLI prints them), and the
calibration summary of the whole artifact, added up from every shard's tallies into `DIR/judge_summary.json`
(read back by `harness report`). The LLM judges, the verifiers and `--judge usefulness` all report this way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.artifacts.reader import JUDGE_SUMMARY
from harness.artifacts.writer import read_provenance, write_json_atomic
from harness.cost import BudgetStop
from judges.calibration import JudgeTally

SUMMARY_FILE = JUDGE_SUMMARY  # read back by `harness report` (harness/artifacts/reader.py)


@dataclass
class JudgeSummary:
    output: str
    rows: int = 0  # rows judged by this run
    questions: int = 0
    rows_skipped: int = 0  # already judged by an earlier run
    requests: int = 0  # LLM judge requests sent by this run (cache hits included)
    failed_questions: int = 0  # left out after a judge request failed for good; a rerun judges them again
    context_overflow_questions: int = 0  # committed with null LLM scores: a judge request was past the context
    cache_hits: int = 0
    generated_tokens: int = 0
    seconds: float = 0.0
    judges: dict[str, dict[str, Any]] = field(default_factory=dict)  # judge_summary.json, the whole artifact
    summary_file: str = ""
    cost: dict[str, Any] | None = None  # this run's LLM judging, when priced (harness/cost.py)
    budget_stop: BudgetStop | None = None  # set when --max-cost stopped the run before its end
    format_task: dict[str, Any] | None = None  # `format`: the task and options it judged with, and their source

    def write_file(self) -> None:
        """`judges` into the output folder's judge_summary.json (written atomically); `summary_file` says where."""
        self.summary_file = str(Path(self.output) / SUMMARY_FILE)
        extra = {"format_task": self.format_task} if self.format_task else {}
        write_json_atomic(Path(self.summary_file), {"judges": self.judges, **extra})


def artifact_tallies(shards: list[Path], kinds: dict[str, str]) -> dict[str, Any]:
    """Each judge's calibration summary over every shard: `kinds` maps a judge's column name to its kind
    ("verifier", or an LLM judge's), and each shard's provenance holds its rows' tallies."""
    totals = {name: JudgeTally(kind) for name, kind in kinds.items()}
    for shard in shards:
        for name, data in (read_provenance(shard).get("judge_tally") or {}).items():
            if name in totals:
                totals[name].merge(JudgeTally.from_dict(data))
    return {name: tally.summary() for name, tally in totals.items()}
