"""Task validators as TRL rewards: the same parse, the TRL signature, strings or conversations."""

from __future__ import annotations

import pytest

from judges.rewards import verdict_reward
from tasks import get_task


def test_backfill_verdicts_as_rewards():
    task = get_task("backfill")
    columns = {"instruction": ["What is 1+1?"] * 3, "solution": ["2"] * 3, "prompts": ["p"] * 3}
    reasoned = "One plus one means adding a single unit to another unit, which gives two units in total here."
    completions = [
        f"{reasoned}\n<|thinking_end|>\n2",
        [{"role": "assistant", "content": "no end marker"}],
        "x\n<|thinking_end|>\n3",
    ]
    assert verdict_reward(task)(completions, **columns) == [1.0, 0.0, 0.0]
    assert verdict_reward(task, "markers")(completions, **columns) == [1.0, 0.0, 1.0]
    # The solution check is never reached when the markers are broken: no signal, not a zero.
    assert verdict_reward(task, "solution_preserved")(completions, **columns) == [1.0, None, 0.0]
    assert verdict_reward(task, "trace_reasoning")(completions, **columns) == [1.0, None, 0.0]  # "x": too short
    assert verdict_reward(task, "markers").__name__ == "backfill_markers"


def test_star_format_reward_and_missing_columns():
    task = get_task("star")
    reward = verdict_reward(task, "format")
    assert reward(["because\n### Answer: 4", "no answer"], question=["q", "q"], answer=["4", "4"]) == [1.0, 0.0]
    with pytest.raises(ValueError, match="needs the dataset column"):
        reward(["x"], question=["q"])
