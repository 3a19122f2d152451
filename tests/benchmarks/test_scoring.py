"""The benchmarks' GLAS score: log P(y) of a softmax, exact where log_softmax rounds to 0.

References are written out by hand: ``log P(y) = z_y - log(sum_k exp(z_k))`` in float64 for
moderate logits, and its series ``-sum_{k != y} exp(z_k - z_y)`` where the model is sure.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from benchkit.scoring import log_probability_fn  # noqa: E402


def _model(logits):
    table = torch.tensor(logits, dtype=torch.float32)
    return lambda batch: table[: batch.shape[0]]


def test_moderate_logits_equal_log_softmax_by_hand():
    logits = [[1.5, -0.25, 3.0], [0.0, 2.0, -1.0]]
    out = log_probability_fn(_model(logits), 1)(torch.zeros(2, 1)).numpy()
    for row, (a, b, c) in enumerate(logits):
        expected = b - math.log(math.exp(a) + math.exp(b) + math.exp(c))
        assert out[row, 0] == pytest.approx(expected, rel=1e-12, abs=1e-12)
    assert out.shape == (2, 1)


@pytest.mark.parametrize("margin", [20.0, 45.0, 300.0])
def test_a_sure_class_keeps_its_distance_from_zero(margin):
    # target logit `margin` above two others at 0: log P = -log(1 + 2 e^-margin) ~ -2 e^-margin
    out = log_probability_fn(_model([[margin, 0.0, 0.0]]), 0)(torch.zeros(1, 1)).numpy()[0, 0]
    assert out == pytest.approx(-2.0 * math.exp(-margin), rel=1e-9)
    assert out < 0.0
    # what log_softmax gives in float32 (and in float64 from a margin of about 37): exactly 0
    if margin > 37:
        assert torch.log_softmax(torch.tensor([margin, 0.0, 0.0], dtype=torch.float64), 0)[0] == 0.0


def test_an_unlikely_class_is_its_logit_gap():
    out = log_probability_fn(_model([[0.0, 500.0, 0.0]]), 0)(torch.zeros(1, 1)).numpy()[0, 0]
    assert out == pytest.approx(-500.0 - math.log1p(math.exp(-500.0)), rel=1e-12)
    assert np.isfinite(out)
