"""Measured loops: the per-round table, the best round, the stop when a round got worse, and the settings."""

from __future__ import annotations

import pytest

from harness.config import ConfigError, LoopConfig, load_config
from harness.stages.loop_eval import best_round, got_worse, round_table
from harness.stages.loop_rounds import LoopSummary
from harness.stages.loop_star import StarRound


def star_round(k: int, accuracy: float | None, **counts) -> StarRound:
    measured = {"accuracy": accuracy, "questions": 10} if accuracy is not None else {}
    return StarRound(
        round=k,
        model_in="m",
        model_out=f"r{k}",
        samples="s",
        pairs="p",
        eval=measured,
        train={"last_loss": 1.5},
        **counts,
    )


def test_the_table_has_the_start_then_one_row_per_round():
    start = {"accuracy": 0.3, "questions": 10}
    table = round_table(start, [star_round(1, 0.4, rows=16, valid=12, pairs_count=5)])
    assert table[0] == {"round": 0, "model": None, "accuracy": 0.3, "questions": 10}
    assert table[1] == {
        "round": 1, "model": "r1", "accuracy": 0.4, "questions": 10, "valid_share": 0.75, "training_rows": 5, "loss": 1.5
    }  # fmt: skip


def test_keep_best_takes_the_most_accurate_round_and_the_earliest_of_equals():
    rounds = [star_round(1, 0.4), star_round(2, 0.5), star_round(3, 0.5), star_round(4, 0.2)]
    assert best_round(rounds).round == 2
    assert LoopSummary("out", rounds, keep="best").final_model == "r2"
    assert LoopSummary("out", rounds).final_model == "r4"  # keep last
    assert best_round([star_round(1, None)]) is None


def test_a_round_that_scores_below_its_start_stops_the_loop():
    assert got_worse({"accuracy": 0.5}, {"accuracy": 0.4}) == "accuracy fell from 0.500 to 0.400 (--stop-when-worse)"
    assert got_worse({"accuracy": 0.5}, {"accuracy": 0.5}) is None
    assert got_worse(None, {"accuracy": 0.1}) is None


def test_keep_best_and_stop_when_worse_need_an_eval():
    with pytest.raises(ConfigError, match="need each round measured: add --eval mmlu"):
        load_config(None, {"input": "q", "output": "o", "keep": "best"}, LoopConfig)
    cfg = load_config(
        None, {"input": "q", "output": "o", "eval": "mmlu", "eval_subsets": "anatomy, virology"}, LoopConfig
    )
    assert cfg.eval_subsets == ["anatomy", "virology"] and cfg.keep == "last"
