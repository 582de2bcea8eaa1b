"""The training losses against examples computed by hand (no model)."""

from __future__ import annotations

import math

import pytest
import torch

from trainers.losses import IGNORE, mean_nll, mixce_logprobs, ranking_loss, sequence_scores, token_logprobs


def logits_for(probs: list[list[float]]) -> torch.Tensor:
    """Logits whose softmax is exactly `probs` at each position (batch of one)."""
    return torch.log(torch.tensor([probs], dtype=torch.float64))


# Three positions over a vocabulary of 3; the token at t+1 is predicted by position t.
PROBS = [[0.5, 0.25, 0.25], [0.1, 0.2, 0.7], [1 / 3, 1 / 3, 1 / 3]]


def test_token_logprobs_are_shifted_and_masked():
    labels = torch.tensor([[IGNORE, 1, 2]])  # no loss on the prompt token; predict 1 from position 0, 2 from 1
    logprobs, mask = token_logprobs(logits_for(PROBS), labels)
    assert mask.tolist() == [[True, True]]
    assert logprobs[0].tolist() == pytest.approx([math.log(0.25), math.log(0.7)])


def test_sequence_score_is_the_mean_over_labelled_tokens_only():
    labels = torch.tensor([[IGNORE, IGNORE, 2]])  # only the last token counts
    assert sequence_scores(logits_for(PROBS), labels).item() == pytest.approx(math.log(0.7))
    labels = torch.tensor([[IGNORE, 1, 2]])
    expected = (math.log(0.25) + math.log(0.7)) / 2
    assert sequence_scores(logits_for(PROBS), labels).item() == pytest.approx(expected)


def test_mean_nll_over_the_batch():
    labels = torch.tensor([[IGNORE, 1, 2]])
    assert mean_nll(logits_for(PROBS), labels).item() == pytest.approx(-(math.log(0.25) + math.log(0.7)) / 2)


def test_ranking_loss_of_a_pair_is_minus_log_sigmoid_of_the_margin():
    scores = torch.tensor([[-1.0, -2.0]])  # chosen, rejected
    assert ranking_loss(scores).item() == pytest.approx(-math.log(1 / (1 + math.exp(-1.0))))


def test_ranking_loss_of_three_candidates_by_hand():
    # s = (0, -1, -3), best first: -log(e^0 / (e^0 + e^-1 + e^-3)) - log(e^-1 / (e^-1 + e^-3))
    by_hand = -math.log(1 / (1 + math.exp(-1) + math.exp(-3))) - math.log(math.exp(-1) / (math.exp(-1) + math.exp(-3)))
    assert ranking_loss(torch.tensor([[0.0, -1.0, -3.0]])).item() == pytest.approx(by_hand)
    # two groups: the mean of the two losses
    pair = -math.log(1 / (1 + math.exp(-2.0)))
    both = ranking_loss(torch.tensor([[0.0, -1.0, -3.0], [0.0, -2.0, -50.0]])).item()
    assert both == pytest.approx((by_hand + pair + 0.0) / 2, abs=1e-6)


def test_ranking_loss_prefers_the_right_order():
    right, wrong = torch.tensor([[0.0, -1.0]]), torch.tensor([[-1.0, 0.0]])
    assert ranking_loss(right) < ranking_loss(wrong)


def test_ranking_loss_needs_two_candidates():
    with pytest.raises(ValueError, match="n >= 2"):
        ranking_loss(torch.tensor([[0.0]]))


def test_mixce_weights_each_token_by_ratio_plus_its_probability():
    logprobs = torch.tensor([math.log(0.5), math.log(0.1), 0.0], requires_grad=True)
    mixed = mixce_logprobs(logprobs, 0.75)
    # -(0.75 + 0.25 * p) * log p, token by token; a masked position (log p = 0) stays 0
    assert (-mixed).tolist() == pytest.approx(
        [-(0.75 + 0.25 * 0.5) * math.log(0.5), -(0.75 + 0.25 * 0.1) * math.log(0.1), 0.0]
    )
    mixed.sum().backward()  # the probability weight is a constant: the gradient is the weight itself
    assert logprobs.grad.tolist() == pytest.approx([0.75 + 0.25 * 0.5, 0.75 + 0.25 * 0.1, 1.0])


def test_mixce_with_ratio_one_is_cross_entropy():
    logprobs = torch.tensor([math.log(0.3), math.log(0.9)])
    assert torch.equal(mixce_logprobs(logprobs, 1.0), logprobs)
    with pytest.raises(ValueError):
        mixce_logprobs(logprobs, 1.5)
