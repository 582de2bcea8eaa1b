"""`harness loop thought-ranking`: the Thought-Ranked Llama 3.2 3B card's rounds, each on the previous model.

Round K (folder DIR/round-K), as the card: `synth --task thought-variants` with the current model (one greedy
thought per forced `<thought>c` prefix, then a greedy answer: `variants/`); the `rank` judge orders each
question's answers, blind to the thoughts, by a chunked tournament (`judged/`; the judge has its own model and
engine, e.g. an external server); `select best-of-n` keeps the winning thought + answer per question as an SFT
conversation (`sft/`); SFT on those gives the round's model (`model/`). Rounds, resume and `DIR/loop.json` as
every loop (`loop_rounds.py`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console

from harness.artifacts.groups import artifact_shards, count_rows
from harness.config import ConfigError, JudgeConfig, SelectConfig, ThoughtRankingConfig
from harness.engines import ENGINES
from harness.engines.models import ModelNotFound
from harness.engines.session import EngineSession
from harness.stages.judge import run_judge
from harness.stages.loop_rounds import LoopPlan, LoopRound, LoopSummary, round_synth_config, run_rounds
from harness.stages.select import run_select
from harness.stages.synth import run_synth

DEFAULT_RECIPE = "thought-ranking-sft"
JUDGE = "rank"


@dataclass(kw_only=True)
class ThoughtRankingRound(LoopRound):
    variants: str  # synth thought-variants
    judged: str  # the same rows, ranked
    sft: str  # the best-ranked variant per question, as `messages`
    rows: int = 0  # variants in the artifact
    valid: int = 0  # variants with a finished, non-empty answer (the only ones select may pick)
    ranked: int = 0  # variants the judge gave a rank
    unparsable: int = 0  # judge replies that could not be read
    selected: int = 0  # SFT rows: one per question with a valid, ranked answer

    def training_input(self) -> str:
        return self.sft

    def figures(self) -> dict[str, Any]:
        return {"valid_share": self.valid / self.rows if self.rows else None, "training_rows": self.selected}


def run_thought_ranking_loop(cfg: ThoughtRankingConfig, console: Console | None = None) -> LoopSummary:
    console = console or Console(stderr=True)
    _check_judge(cfg)

    def new_round(k: int, model: str, folder: Path) -> ThoughtRankingRound:
        paths = {name: str(folder / name) for name in ("variants", "judged", "sft")}
        return ThoughtRankingRound(round=k, model_in=model, **paths)

    def prepare(step: ThoughtRankingRound) -> str | None:
        variants = round_synth_config(cfg, step, "thought-variants", step.variants, task_options=cfg.task_options)
        synth = run_synth(variants, console)
        step.rows, step.valid = synth.artifact_rows, synth.artifact_valid
        judged = run_judge(_judge_config(cfg, step.variants, step.judged), console)
        if judged.failed_questions:
            return f"{judged.failed_questions} question(s) could not be judged (engine errors); rerun to judge them"
        tally = judged.judges[JUDGE]
        step.ranked, step.unparsable = tally["scored"], tally["unparsable"]
        run_select(SelectConfig(mode="best-of-n", input=step.judged, output=step.sft, judge=JUDGE), console)
        step.selected = count_rows(artifact_shards(Path(step.sft), (), "harness select"))
        if step.selected == 0:
            return f"no question has a valid, ranked answer to train on ({step.valid} of {step.rows} variants valid)"
        return None

    plan = LoopPlan("thought-ranking", ThoughtRankingRound, new_round, prepare, "sft", cfg.recipe or DEFAULT_RECIPE)
    return run_rounds(plan, cfg, console)


def _check_judge(cfg: ThoughtRankingConfig) -> None:
    """The judge's settings, checked before round 1 samples anything (the judge stage would check them later)."""
    if cfg.judge.engine not in ENGINES:
        raise ConfigError(f"judge: unknown engine {cfg.judge.engine!r}; engines are: {', '.join(sorted(ENGINES))}")
    try:
        EngineSession(_judge_config(cfg, cfg.input, cfg.output)).check()
    except ModelNotFound as err:
        raise ConfigError(f"judge: {err} (the loop's flags: --judge-engine, --judge-base-url, --judge-model)") from err


def _judge_config(cfg: ThoughtRankingConfig, variants: str, output: str) -> JudgeConfig:
    # The loop's judge settings are JudgeConfig's own fields, by the same names.
    return JudgeConfig(input=variants, output=output, judges=[JUDGE], threads=cfg.threads, **cfg.judge.model_dump())
