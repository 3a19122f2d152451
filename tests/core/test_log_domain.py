"""Eq. 1-3 from log-probabilities: the paper's map up to one positive factor, and informative when
float32 probabilities underflow."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import glas_core
from glas_core import GLASError
from glas_core.config import RowLayout
from glas_core.scores import log_shadow_score
from tests.core.reference import reference_glas, reference_grid_points


def _log_softmax(z):
    z = z - z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def _linear(shape, scale, offset, seed=0):
    """Two-class logits ``scale * <w, x> + offset``: large scale and offset make a confident model."""
    w = np.random.default_rng(seed).random(int(np.prod(shape)))
    w /= w.sum()

    def logits(batch):
        b = np.asarray(batch, dtype=np.float64).reshape(len(batch), -1)
        z0 = scale * (b @ w) + offset
        return np.stack([z0, np.zeros_like(z0)], axis=1)

    return logits


@pytest.mark.parametrize("mode", ["fusion", "light", "shadow"])
def test_log_map_is_the_paper_map_times_one_factor(mode):
    x = np.random.default_rng(1).random((2, 12, 12))
    logits = _linear(x.shape, 6.0, -2.0)
    probs = lambda b: np.exp(_log_softmax(logits(b)))  # noqa: E731
    paper = glas_core.explain(probs, x, grid=4, sigma=1.5, mode=mode)
    logged = glas_core.explain(lambda b: _log_softmax(logits(b)), x, grid=4, sigma=1.5, mode=mode, log_scores=True)
    assert paper.log_scale is None and logged.log_scale.shape == (2,)
    factor = np.exp(logged.log_scale)[:, None, None]
    np.testing.assert_allclose(logged.saliency * factor, paper.saliency, rtol=1e-10, atol=0)
    for name in ("clean_scores", "light_scores", "shadow_scores"):
        a, b = getattr(paper, name), getattr(logged, name)
        assert (a is None) == (b is None)
        if a is not None:
            np.testing.assert_allclose(b, a, rtol=1e-10)


def test_underflowing_float32_probabilities_still_give_the_float64_map():
    """Every light probability underflows to 0 in float32: the paper's map is flat there, while the
    log-domain map equals a float64 loop reference of Eq. 1-3 (up to its positive factor)."""
    x = np.zeros((1, 16, 16), dtype=np.float32)
    x[0, 3:7, 9:13] = 1.0
    w = np.zeros(16 * 16)
    w[np.ravel_multi_index(np.nonzero(x[0] > 0), (16, 16))] = 1.0 / 16
    offset, scale = -500.0, 540.0   # clean logit +40; under any light mask below -160

    def logits32(batch):
        z0 = scale * (batch.reshape(len(batch), -1).astype(np.float32) @ w.astype(np.float32)) + np.float32(offset)
        return np.stack([z0, np.zeros_like(z0)], axis=1).astype(np.float32)

    def softmax32(batch):
        z = logits32(batch)
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return (e / e.sum(axis=1, keepdims=True))[:, :1]

    def log_softmax32(batch):
        return _log_softmax(logits32(batch)).astype(np.float32)[:, :1]

    grid, sigma = (4, 4), 0.5
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        paper32 = glas_core.explain(softmax32, x, grid=grid, sigma=sigma).to_numpy()[0]
    assert np.ptp(paper32) == 0.0, "the float32 probability path should be flat here"
    logged = glas_core.explain(log_softmax32, x, grid=grid, sigma=sigma, log_scores=True)
    assert float(logged.log_scale[0]) < math.log(np.finfo(np.float32).tiny)  # really below float32

    def score64(img):
        z0 = scale * float(np.asarray(img, np.float64).reshape(-1) @ w) + offset
        return np.array([1.0 / (1.0 + math.exp(-z0))]) if z0 > -700 else np.array([math.exp(z0)])

    cell = 16 / 4
    sig = (sigma * cell, sigma * cell)
    ref, *_ = reference_glas(score64, x.astype(np.float64), reference_grid_points((16, 16), grid), sig, sig, sig)
    ref = ref[0] / ref[0].max()
    got = logged.to_numpy()[0].astype(np.float64)
    np.testing.assert_allclose(got / got.max(), ref, rtol=2e-3, atol=1e-6)
    assert np.unravel_index(np.argmax(got), got.shape) == np.unravel_index(np.argmax(ref), ref.shape)


def test_log_shadow_score_by_hand():
    lam = 1e-5
    log = np.log
    rows = np.array([[0.0, -np.inf, -1.0, -1.0],      # clean row
                     [0.0, -np.inf, -np.inf, -2.0]])  # one shadow row
    got = log_shadow_score(np, rows, RowLayout(1, "shadow"), lam)[:, 0]
    want = [log(lam),                 # equal scores: only lambda
            log(lam),                 # both probabilities 0
            log(math.exp(-1) + lam),  # the shadow removed everything
            log(math.exp(-1) - math.exp(-2) + lam)]
    np.testing.assert_allclose(got, want, rtol=1e-12)


def test_log_scores_are_validated():
    x = np.random.default_rng(0).random((1, 8, 8))
    with pytest.raises(GLASError, match=r"score_fn output must be log-probabilities \(<= 0, -inf allowed\), "
                                        r"got a maximum of 0.5"):
        glas_core.explain(lambda b: np.full((len(b), 1), 0.5), x, grid=2, log_scores=True)
    with pytest.raises(GLASError, match="got NaN"):
        glas_core.explain(lambda b: np.full((len(b), 1), np.nan), x, grid=2, log_scores=True)


def test_recursive_and_multiscale_take_log_scores():
    x = np.random.default_rng(2).random((2, 12, 12))
    logits = _linear(x.shape, 6.0, -2.0, seed=3)
    probs = lambda b: np.exp(_log_softmax(logits(b)))[:, :1]  # noqa: E731
    logp = lambda b: _log_softmax(logits(b))[:, :1]  # noqa: E731
    a = glas_core.explain_recursive(probs, x, grid=4, sigma=1.0)
    b = glas_core.explain_recursive(logp, x, grid=4, sigma=1.0, log_scores=True)
    np.testing.assert_allclose(b.to_numpy(), a.to_numpy(), rtol=1e-8, atol=1e-12)  # normalised maps: no factor
    assert [i.score_after for i in b.iterations[0]] == pytest.approx([i.score_after for i in a.iterations[0]])
    ms = glas_core.explain_multiscale(logp, x, [2.0, 1.0], grid=4, log_scores=True)
    assert all(r.log_scale is not None for r in ms)
