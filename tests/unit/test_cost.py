"""The cost ledger's arithmetic (harness/cost.py): prices, blocks and their sums, the budget's projection, and
the command a budget stop prints (harness/cli/cost.py)."""

from __future__ import annotations

import pytest

from harness.cli.cost import go_on_command
from harness.cost import Budget, BudgetStop, Prices, add_costs, usd_text
from harness.pipeline.state import fingerprint

USAGE = {"prompt_tokens": 2_000_000, "completion_tokens": 500_000, "engine_seconds": 1800.0}


def test_prices_charge_tokens_per_million_and_engine_time_per_hour():
    assert Prices(0.5, 2.0).usd(USAGE) == pytest.approx(1.0 + 1.0)
    assert Prices(cost_per_hour=3.0).usd(USAGE) == pytest.approx(1.5)
    block = Prices(0.5, 2.0, 3.0).block(USAGE)
    assert block == {
        "usd": pytest.approx(3.5), "price_input": 0.5, "price_output": 2.0, "cost_per_hour": 3.0,
        "prompt_tokens": 2_000_000, "completion_tokens": 500_000, "seconds": 1800.0,
    }  # fmt: skip
    assert Prices().block(USAGE) is None  # unpriced: no block, no invented number
    assert Prices(price_output=0.0).block({})["usd"] == 0.0  # priced at zero is priced


def test_blocks_add_up_and_say_where_prices_differ():
    a, b = Prices(1.0, 1.0).block(USAGE), Prices(1.0, 2.0).block(USAGE)
    total = add_costs([a, None, b])
    assert total["usd"] == pytest.approx(a["usd"] + b["usd"]) and total["prompt_tokens"] == 4_000_000
    assert total["price_input"] == 1.0 and total["price_output"] == "mixed"
    assert add_costs([None, None]) is None


def test_money_reads_as_money():
    assert [usd_text(x) for x in (0, 12.345, 0.5, 0.0123, 0.000012)] == [
        "0.00 USD", "12.35 USD", "0.5000 USD", "0.0123 USD", "0.000012 USD",
    ]  # fmt: skip


def test_the_budget_takes_a_record_only_when_the_projection_stays_within_it():
    spent = [0.0]
    budget = Budget(1.0, Prices(1.0), earlier=0.25, spent=lambda: spent[0])
    taken = []
    for record in budget.gate(range(10)):
        taken.append(record)
        spent[0] += 0.2  # each record costs 0.2 once it is done
        budget.done()
    # 0.25 earlier + 3 x 0.2 = 0.85; a fourth would project 1.05 > 1.0
    assert taken == [0, 1, 2] and budget.stopped
    stop = budget.stop(rows_left=7)
    assert stop.spent == pytest.approx(0.85) and stop.projected == pytest.approx(0.85 + 7 * 0.2)
    assert stop.next_budget() >= stop.projected
    assert Budget(None, Prices(), 0.0, lambda: 5.0).stop(3) is None


def test_records_in_flight_count_against_the_budget():
    spent = [0.1]  # one record done at 0.1: two in flight and the next project 0.4
    budget = Budget(0.35, Prices(1.0), 0.0, lambda: spent[0])
    budget.started, budget.finished = 3, 1
    assert not budget.admits_next()
    budget.finished = 2
    assert budget.admits_next()


def test_an_input_that_ends_at_the_budget_is_no_stop():
    budget = Budget(1.0, Prices(1.0), 0.0, lambda: 0.99)
    assert list(budget.gate([])) == [] and budget.stop(0) is None


def test_the_stop_message_names_the_budget_and_the_spend():
    text = BudgetStop(0.05, 0.0412, 10, 0.09).message("harness synth --max-cost 0.12")
    assert "--max-cost 0.05 USD" in text and "0.0412 USD" in text and "10 left" in text and "0.0900 USD" in text
    assert text.endswith("resumes: harness synth --max-cost 0.12")
    assert BudgetStop(0.05, 0.0512, 10, 0.09).message("...").startswith("stopped at --max-cost 0.05 USD")


@pytest.mark.parametrize(
    "argv",
    [
        ["synth", "--output", "runs/a b", "--max-cost", "0.05", "--price-input", "1"],
        ["synth", "--output", "runs/a b", "--max-cost=0.05", "--price-input", "1"],
    ],
)
def test_going_on_replaces_the_budget_in_the_command_as_typed(argv):
    assert go_on_command(argv, 0.12) == "harness synth --output 'runs/a b' --price-input 1 --max-cost 0.12"


def test_prices_and_budget_are_no_part_of_a_pipeline_stages_fingerprint(tmp_path):
    base = {"task": "backfill", "limit": 4}
    priced = {**base, "price_input": 0.5, "cost_per_hour": 2.0, "max_cost": 0.1}
    assert fingerprint("synth", base, tmp_path / "out") == fingerprint("synth", priced, tmp_path / "out")
    assert fingerprint("synth", base, tmp_path / "out") != fingerprint("synth", {**base, "limit": 5}, tmp_path / "out")
