"""Losses TRL does not have: the Memphis card's ranking loss and MixCE. Pure tensor functions, unit-tested by hand.

Shapes: `logits` (batch, seq, vocab), `labels` (batch, seq) with -100 where no loss is taken (prompt, padding).
Labels are aligned with the logits the way transformers does it: the token at position t+1 is predicted by the
logits at position t.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

IGNORE = -100


def token_logprobs(logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """log p(label_t | prefix) for every position that has a label, and the mask of those positions.

    Returns (logprobs, mask), both (batch, seq - 1); logprobs are 0 where the mask is False.
    """
    logits, labels = logits[:, :-1, :], labels[:, 1:]
    mask = labels != IGNORE
    safe = labels.masked_fill(~mask, 0)
    picked = torch.gather(F.log_softmax(logits.float(), dim=-1), 2, safe.unsqueeze(-1)).squeeze(-1)
    return picked * mask, mask


def sequence_scores(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Length-normalised sequence log-probability of each row's labelled tokens: mean of log p over them."""
    logprobs, mask = token_logprobs(logits, labels)
    return logprobs.sum(-1) / mask.sum(-1).clamp(min=1)


def ranking_loss(scores: torch.Tensor) -> torch.Tensor:
    """Preference Ranking Optimization over candidates ordered best first: `scores` is (groups, n).

    For each group, -sum_{k<n} log( exp(s_k) / sum_{j>=k} exp(s_j) ): the best candidate must beat all the others,
    the second all below it, and so on. With n = 2 this is -log sigmoid(s_best - s_worse). Mean over groups.
    """
    if scores.dim() != 2 or scores.shape[1] < 2:
        raise ValueError(f"ranking_loss needs (groups, n >= 2) scores, got shape {tuple(scores.shape)}")
    n = scores.shape[1]
    # logcumsumexp from the right: the log of sum_{j>=k} exp(s_j) for every k
    tails = torch.logcumsumexp(scores.flip(-1), dim=-1).flip(-1)
    return -(scores[:, : n - 1] - tails[:, : n - 1]).sum(-1).mean()


def mean_nll(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Token-level cross-entropy averaged over every labelled token of the batch."""
    logprobs, mask = token_logprobs(logits, labels)
    return -logprobs.sum() / mask.sum().clamp(min=1)


def mixce_logprobs(logprobs: torch.Tensor, ratio: float) -> torch.Tensor:
    """Token log-probs reweighted so that their negative is the MixCE token loss (Zhang et al., 2023).

    MixCE mixes forward cross-entropy (weight `ratio`) with an approximation of reverse cross-entropy whose
    gradient is the forward one weighted by the token's own probability: loss_t = -(ratio + (1 - ratio) * p_t)
    * log p_t, with p_t taken as a constant. ratio = 1 is plain cross-entropy.
    """
    if not 0.0 <= ratio <= 1.0:
        raise ValueError(f"MixCE mixing ratio must be in [0, 1], got {ratio}")
    weight = ratio + (1.0 - ratio) * logprobs.detach().exp()
    return weight * logprobs
