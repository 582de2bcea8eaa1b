"""MixCE (trainers/sft.py) only where TRL's loss is the sum of the fused head's log-probs it reweights."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from trainers.sft import _check_mixce_applies


def test_mixce_with_trls_plain_cross_entropy_is_accepted():
    _check_mixce_applies(SimpleNamespace(loss_type="nll", label_smoothing_factor=0.0))


@pytest.mark.parametrize(("loss_type", "smoothing"), [("dft", 0.0), ("nll", 0.1)])
def test_mixce_with_a_loss_that_would_skip_it_is_refused(loss_type, smoothing):
    with pytest.raises(ValueError, match="mixce_ratio needs TRL's plain cross-entropy"):
        _check_mixce_applies(SimpleNamespace(loss_type=loss_type, label_smoothing_factor=smoothing))
