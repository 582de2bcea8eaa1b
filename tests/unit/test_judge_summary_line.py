"""The judge summary's line per judge must not contradict itself (issue 18: "12/12 scored, 12 unparsable")."""

from __future__ import annotations

from judges.calibration import JudgeTally, describe


def _summary(kind: str, scores: list[float | None], unparsable: int) -> dict:
    tally = JudgeTally(kind)
    for score in scores:
        tally.add_score(score)
    tally.unparsable = unparsable
    return tally.summary()


def test_a_verifier_s_unreadable_answers_are_said_to_be_scored_zero():
    line = describe(_summary("verifier", [0.0] * 12, unparsable=12))
    assert line == "12/12 scored (12 of them 0 because the answer could not be read)"


def test_an_llm_judge_s_unreadable_replies_leave_rows_unscored():
    line = describe(_summary("score", [7.0, None, None], unparsable=2))
    assert line == "1/3 scored, 2 replies could not be read"


def test_a_clean_run_says_only_what_was_scored():
    assert describe(_summary("verifier", [1.0, 0.0], unparsable=0)) == "2/2 scored"


def test_pairwise_adds_ties_and_swap_agreement():
    tally = JudgeTally("pairwise", ties=1, swap_pairs=2, swap_agreed=1)
    tally.add_score(0.5)
    assert describe(tally.summary()) == "1/1 scored, 1 ties, swap agreement 50%"
