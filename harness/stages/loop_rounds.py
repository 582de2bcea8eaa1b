"""What every `harness loop` shares: rounds that each end in training, kept and linked, resumed by round.

Round K lives in DIR/round-K: the loop's own artifacts (made by its `prepare` step) and `model/`, the round's
trained model, which the next round starts from. `DIR/loop.json` links every round: the model it started
from, its artifacts, its counts and its training result. A round whose model is saved whole is finished: a
rerun skips it (keeping the counts loop.json recorded) and goes on from its model; an interrupted round
resumes, each stage where it stopped. `prepare` may stop the loop (no training rows): it says why.
With `eval` set, the starting model and each round's model are measured on the same questions (`loop_eval.py`):
loop.json carries the per-round table, `keep: best` makes the most accurate round's model the loop's result, and
`stop_when_worse` ends the loop after a round whose model scored below the one it started from.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, TypeVar

from rich.console import Console

from harness.artifacts.writer import ArtifactError, write_atomic
from harness.config import LoopSettings, SynthConfig
from harness.cost import PRICE_KEYS, folder_cost
from harness.stages.loop_eval import START_EVAL, best_round, got_worse, measure, round_table
from harness.stages.train import PROVENANCE_FILE, load_train_config, run_train

LINKS_FILE = "loop.json"
MODEL_FOLDER = "model"


@dataclass(kw_only=True)
class LoopRound:
    """One round's record in loop.json; each loop adds its artifacts and counts."""

    round: int
    model_in: str
    model_out: str | None = None
    train: dict[str, Any] = field(default_factory=dict)
    eval: dict[str, Any] = field(default_factory=dict)  # the round's model measured (loops with `eval`)

    def training_input(self) -> str:
        """The artifact the round's model is trained on."""
        raise NotImplementedError

    def figures(self) -> dict[str, Any]:
        """The round's columns of the per-round table: `valid_share` of its synth, `training_rows`."""
        return {}


Round = TypeVar("Round", bound=LoopRound)


@dataclass
class LoopSummary:
    output: str
    rounds: list[LoopRound]
    stopped: str | None = None  # why the loop ended early
    start_eval: dict[str, Any] | None = None  # the starting model measured (loops with `eval`)
    keep: str = "last"  # which round's model is the loop's result: the last, or the best measured

    @property
    def final_model(self) -> str | None:
        if self.keep == "best" and (best := best_round(self.rounds)) is not None:
            return best.model_out
        trained = [r.model_out for r in self.rounds if r.model_out]
        return trained[-1] if trained else None

    @property
    def table(self) -> list[dict[str, Any]]:
        return round_table(self.start_eval, self.rounds)


@dataclass(frozen=True)
class LoopPlan:
    """One kind of loop: its name, round record, how a round is prepared and how its model is trained."""

    name: str  # "star", "thought-ranking": the `harness loop` subcommand, recorded in loop.json
    round_type: type[LoopRound]
    new_round: Callable[[int, str, Path], LoopRound]  # (k, model in, round folder) -> a fresh record
    prepare: Callable[[Any], str | None]  # (record) -> why the loop must stop here, or None
    method: str  # the training method (`harness train METHOD`)
    recipe: str


def run_rounds(plan: LoopPlan, cfg: LoopSettings, console: Console) -> LoopSummary:
    """`cfg`: a loop's config (LoopConfig, ThoughtRankingConfig); `plan`'s steps read their own settings from it."""
    root = Path(cfg.output)
    earlier = _earlier_rounds(root, plan)
    summary = LoopSummary(output=str(root), rounds=[], keep=cfg.keep)
    model = cfg.model
    if cfg.eval:
        console.rule(f"loop {plan.name}: measuring the starting model ({model})")
        summary.start_eval = measure(cfg, model, root / START_EVAL, console)
    before = summary.start_eval
    for k in range(1, cfg.rounds + 1):
        folder = root / f"round-{k}"
        finished = (folder / MODEL_FOLDER / PROVENANCE_FILE).is_file()
        step = _restored(plan.round_type, earlier[k]) if finished and k in earlier else plan.new_round(k, model, folder)
        summary.rounds.append(step)
        console.rule(f"loop {plan.name}: round {k}/{cfg.rounds} (model {model})")
        if finished:  # not prepared again: its training rows would be rebuilt, so its model's input would change
            console.print(f"round {k} is already done: {folder / MODEL_FOLDER}", highlight=False)
        elif (stopped := plan.prepare(step)) is not None:
            summary.stopped = f"round {k}: {stopped}"
            _write_links(root, plan, cfg, summary)
            return summary
        train_cfg = load_train_config(
            plan.method,
            plan.recipe,
            {
                **cfg.train,
                "input": step.training_input(),
                "output": str(folder / MODEL_FOLDER),
                "model": model,
                "threads": cfg.threads,
            },
        )
        if train_cfg.peft is not None:  # the next round loads this round's model: a plain, merged one
            train_cfg.peft.merge = True
        # A finished round's model is checked, not retrained; N processes train it when the loop says so.
        scale = {"processes": cfg.num_processes, "accelerate_config": cfg.accelerate_config}
        trained = run_train(train_cfg, console, plan.recipe, **scale)
        step.model_out = trained.output
        step.train = {key: v for key, v in asdict(trained).items() if key not in ("output", "method", "already_done")}
        model = trained.output
        if cfg.eval:
            step.eval = measure(cfg, model, folder / "eval", console)
            stop = got_worse(before, step.eval) if cfg.stop_when_worse else None
            before = step.eval
            if stop is not None and k < cfg.rounds:
                summary.stopped = f"round {k}: {stop}"
                _write_links(root, plan, cfg, summary)
                return summary
        _write_links(root, plan, cfg, summary)
    return summary


def round_synth_config(cfg: LoopSettings, step: LoopRound, task: str, output: str, **settings: Any) -> SynthConfig:
    """A round's synth run: the loop's questions, columns, limit, engine (with its vLLM settings and Ray
    replicas) and threads, on the round's starting model: vLLM loads the folder the round before trained."""
    batch = {"batch_size": cfg.synth_batch_size} if cfg.synth_batch_size else {}
    return SynthConfig(
        task=task,
        input=cfg.input,
        output=output,
        model=step.model_in,
        engine=cfg.engine,
        vllm=cfg.vllm,
        ray=cfg.ray,
        columns=cfg.columns,
        limit=cfg.limit,
        threads=cfg.threads,
        **{key: getattr(cfg, key) for key in PRICE_KEYS},
        **batch,
        **settings,
    )


def _restored(round_type: type[Round], recorded: dict[str, Any]) -> Round:
    known = {f.name for f in fields(round_type)}
    return round_type(**{k: v for k, v in recorded.items() if k in known})


def _earlier_rounds(root: Path, plan: LoopPlan) -> dict[int, dict[str, Any]]:
    """The rounds a previous run recorded, so a resumed loop keeps their counts; another loop's folder is refused."""
    links = root / LINKS_FILE
    if not links.is_file():
        return {}
    recorded = json.loads(links.read_text())
    if recorded.get("loop", plan.name) != plan.name:
        raise ArtifactError(
            f"{root} holds a `harness loop {recorded['loop']}` run, not {plan.name}; use another --output"
        )
    return {r["round"]: r for r in recorded.get("rounds", [])}


def _write_links(root: Path, plan: LoopPlan, cfg: LoopSettings, summary: LoopSummary) -> None:
    root.mkdir(parents=True, exist_ok=True)
    links = {
        "loop": plan.name,
        "config": cfg.model_dump(),
        "rounds": [asdict(r) for r in summary.rounds],
        "final_model": summary.final_model,
        "keep": summary.keep,
        "stopped": summary.stopped,
        "start_eval": summary.start_eval,
        "table": summary.table,  # per round: accuracy, valid share, training rows, loss
        "cost": folder_cost(root),  # every round's stages, when priced
    }
    write_atomic(root / LINKS_FILE, json.dumps(links, indent=2, default=str))
