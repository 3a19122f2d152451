"""Target log-probabilities from logits: equal to log_softmax where it is exact, exact where it is not."""

from __future__ import annotations

import math

import numpy as np
import pytest

import glas_core
from glas_core import log_probabilities


def _reference(z, y):
    """log p_y by hand in Python floats with math.fsum: -log(1 + sum_j exp(z_j - z_y))."""
    s = math.fsum(math.exp(float(zj) - float(z[y])) for j, zj in enumerate(z) if j != y)
    return -math.log1p(s)


def test_matches_log_softmax_on_ordinary_logits():
    z = np.random.default_rng(0).normal(size=(5, 7))
    ls = z - z.max(axis=1, keepdims=True)
    ls = ls - np.log(np.exp(ls).sum(axis=1, keepdims=True))
    np.testing.assert_allclose(log_probabilities(z, [0, 3, 6]), ls[:, [0, 3, 6]], rtol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_saturated_class_keeps_its_exact_value(dtype):
    z = np.array([[60.0, 1.0, -2.0], [20.0, 19.5, 0.0], [-50.0, 40.0, 0.0]], dtype=dtype)
    got = log_probabilities(z, [0, 1])
    for b in range(3):
        for t, y in enumerate([0, 1]):
            np.testing.assert_allclose(got[b, t], _reference(z[b].astype(np.float64), y), rtol=1e-5)
    naive = z - z.max(axis=1, keepdims=True)
    naive = naive - np.log(np.exp(naive).sum(axis=1, keepdims=True))
    assert naive[0, 0] == 0.0 and got[0, 0] < 0  # log_softmax saturates; this does not
    assert got.dtype == dtype


def test_sigmoid_half_precision_and_a_single_column():
    z = np.array([[30.0], [-30.0], [0.0]], dtype=np.float16)
    got = log_probabilities(z, [0], kind="sigmoid")
    assert got.dtype == np.float32
    np.testing.assert_allclose(got[:, 0], [-math.exp(-30), -30 - math.log1p(math.exp(-30)), -math.log(2)], rtol=1e-5)
    assert np.all(log_probabilities(np.ones((2, 1)), [0]) == 0.0)


def test_saturated_model_gets_an_informative_map():
    """A class winning by ~100 logits: log_softmax gives 0 for every row, these scores do not."""
    x = np.random.default_rng(1).random((1, 16, 16))
    w = np.zeros((16, 16))
    w[2:6, 2:6] = 1.0

    def logits(b):
        s = (b[:, 0] * w).sum(axis=(1, 2))
        return np.stack([6.0 * s + 20.0, np.zeros_like(s)], axis=1).astype(np.float32)

    res = glas_core.explain(lambda b: log_probabilities(logits(b), [0]), x.astype(np.float32), grid=4, sigma=1.0,
                            log_scores=True)
    m = res.to_numpy()[0]
    assert np.ptp(m) > 0
    r, c = np.unravel_index(np.argmax(m), m.shape)
    assert 0 <= r < 8 and 0 <= c < 8
