"""LLM judges' rounds and results, driven with hand-written replies (the engine is the integration tests')."""

from __future__ import annotations

import pytest

from judges.calibration import JudgeTally
from judges.llm_judges import Candidate, PairwiseJudge, RankJudge, ScoreJudge
from judges.tournament import Tournament, chunks


def drive(judging, reply_for) -> list:
    """Run every round, answering each request with reply_for(request)."""
    while requests := judging.requests():
        judging.receive([reply_for(r) for r in requests])
    return judging.results()


def answers(n: int, missing: tuple[int, ...] = ()) -> list[Candidate]:
    return [Candidate("q", None if i in missing else f"answer number {i}") for i in range(n)]


def test_score_judge_scores_reads_and_skips():
    replies = iter(["Score: 7", "no idea"])
    judging = ScoreJudge().start(answers(3, missing=(1,)))
    results = drive(judging, lambda r: next(replies))
    assert [r.score for r in results] == [7.0, None, None]
    assert results[1].reason == "no answer to judge" and "no score" in results[2].reason
    assert results[0].extra == {"output": "Score: 7"}
    assert judging.tally.requests == 2 and judging.tally.unparsable == 1


def test_pairwise_judges_both_orders_and_disagreement_is_a_tie():
    def prefer_longer_then_always_a(request):
        user = request.messages[1]["content"]
        return "Verdict: B" if "answer number 2" in user.split("Answer B:")[1] else "Verdict: A"

    judging = PairwiseJudge().start(answers(3))
    results = drive(judging, prefer_longer_then_always_a)
    assert judging.tally.requests == 6  # 3 pairs x 2 orders
    # Pairs (0,1): both orders say "A" -> the orders disagree -> tie. (0,2) and (1,2): 2 wins in both orders.
    assert [r.extra for r in results] == [
        {"wins": 0, "ties": 1, "losses": 1},
        {"wins": 0, "ties": 1, "losses": 1},
        {"wins": 2, "ties": 0, "losses": 0},
    ]
    assert [r.score for r in results] == [0.25, 0.25, 1.0]
    summary = _tally(judging, results).summary()
    assert summary["ties"] == 1 and summary["position_swap_agreement"] == pytest.approx(2 / 3)


def test_pairwise_unreadable_replies_and_lone_answers():
    judging = PairwiseJudge().start(answers(2))
    results = drive(judging, lambda r: "hmm")
    assert [r.score for r in results] == [None, None] and results[0].reason == "every comparison unreadable"
    assert judging.tally.unparsable == 2 and judging.tally.swap_pairs == 0
    alone = drive(PairwiseJudge().start(answers(1)), lambda r: pytest.fail("no request for one answer"))
    assert alone[0].score is None and alone[0].reason == "no other answer to compare with"


def test_rank_in_chunks_then_merge_62_answers_in_9_requests():
    def best_is_highest_number(request):
        user = request.messages[1]["content"]
        numbers = [
            int(part.split("\n", 1)[1].split("answer number ")[1].split("\n")[0]) for part in user.split("Answer ")[1:]
        ]
        order = sorted(range(len(numbers)), key=lambda i: -numbers[i])
        return "Ranking: " + " > ".join(str(i + 1) for i in order)

    judging = RankJudge(chunk_size=8).start(answers(62))
    results = drive(judging, best_is_highest_number)
    assert judging.tally.requests == 9
    ranks = {i: r.extra["rank"] for i, r in enumerate(results)}
    assert ranks[61] == 1 and results[61].score == 1.0  # the true best wins the tournament
    assert sorted(ranks.values()) == list(range(1, 63))
    winners = sorted((i for i in ranks if ranks[i] <= 8), key=ranks.get)
    assert winners == sorted(winners, reverse=True)  # the final chunk is ranked exactly


def test_an_unreadable_chunk_sends_nobody_on_and_keeps_earlier_places():
    replies = iter(["Ranking: 2 > 1", "garbage", "still garbage"])
    judging = RankJudge(chunk_size=2).start(answers(4))
    results = drive(judging, lambda r: next(replies))
    # Round 1: chunk [0,1] ranked (1 wins), chunk [2,3] unreadable. Round 2: 1 alone, so it is first.
    assert [r.extra["rank"] for r in results] == [2, 1, None, None]
    assert results[2].reason.startswith("no ranking")
    assert judging.tally.unparsable == 1


def test_chunks_are_even():
    assert [len(c) for c in chunks(list(range(62)), 8)] == [8] * 6 + [7] * 2
    assert [len(c) for c in chunks(list(range(9)), 8)] == [5, 4]
    assert chunks([], 8) == []
    with pytest.raises(ValueError):
        chunks([1, 2], 1)


def test_tournament_of_one_needs_no_request():
    tournament = Tournament([5], 8)
    assert tournament.next_chunks() == [] and tournament.order() == [5]


def _tally(judging, results) -> JudgeTally:
    tally = JudgeTally("pairwise")
    tally.merge(judging.tally)
    for r in results:
        tally.add_score(r.score)
    return tally


def test_an_answer_alone_in_its_chunk_costs_no_request():
    replies = iter(["Ranking: 1 > 2", "Ranking: 2 > 1"])
    judging = RankJudge(chunk_size=2).start(answers(3))
    results = drive(judging, lambda r: next(replies))
    # Round 1: [0, 1] ranked (0 wins), [2] alone goes on. Round 2: [0, 2], 2 wins.
    assert judging.tally.requests == 2
    assert [r.extra["rank"] for r in results] == [2, 3, 1]
