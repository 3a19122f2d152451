"""Channels-last series (N, T, C) through glas_adapters.tf: the contract's shapes, the loop reference, refusals."""

from __future__ import annotations

import numpy as np
import pytest

import glas_core
from glas_adapters import tf as glas_tf
from glas_core import GLASError
from tests.adapters.tf.tiny_keras import keras, np_softmax, seeded
from tests.core.reference import reference_glas, reference_grid_points

T, C, K = 20, 2, 3
GRID, SIGMA = 5, (1.5, 1.0, 2.0)


def conv1d_model(seed=0):
    model = keras.Sequential([keras.Input((T, C)), keras.layers.Conv1D(4, 5, padding="same", activation="tanh"),
                              keras.layers.Flatten(), keras.layers.Dense(K)])
    return seeded(model, seed)


def series(n=2, seed=1):
    return np.random.default_rng(seed).random((n, T, C)).astype(np.float32)


def reference(model, x_tc, cls, baseline=0.0):
    """The loop reference of one (T, C) series for one class, in float64 after the model's float32 pass."""
    def score_one(ct):
        out = model(np.transpose(ct)[None].astype(np.float32), training=False).numpy().astype(np.float64)
        return np_softmax(out)[0, [cls]]

    sig = [(s * T / GRID,) for s in SIGMA]
    sal, *_ = reference_glas(score_one, np.transpose(x_tc).astype(np.float64), reference_grid_points((T,), (GRID,)),
                             *sig, baseline=baseline)
    return sal[0]


def paper_scale(result):
    scale = np.exp(np.asarray(glas_core.to_numpy(result.log_scale), np.float64))
    return np.asarray(glas_core.to_numpy(result.saliency), np.float64) * scale[:, None]


def test_maps_follow_the_contract_and_equal_the_loop_reference():
    model, x = conv1d_model(), series()
    kw = dict(grid=GRID, sigma=SIGMA)
    assert glas_tf.explain(model, x, [0, 2], **kw).shape == (2, T)
    several = glas_tf.explain(model, x, [[0, 1], [2, 0]], **kw)
    assert several.shape == (2, 2, T)
    assert glas_tf.explain(model, x[1], [2, 1], **kw).shape == (2, T)
    assert glas_tf.explain(model, x[1], 2, **kw).shape == (T,)
    results = glas_tf.explain(model, x, [[0, 1], [2, 0]], return_result=True, **kw)
    for i, cols in enumerate([[0, 1], [2, 0]]):
        assert results[i].spatial_axes == (0,)
        for j, cls in enumerate(cols):
            ref = reference(model, x[i], cls)
            np.testing.assert_allclose(paper_scale(results[i])[j], ref, rtol=0, atol=1e-4 * np.abs(ref).max())


def test_a_mean_baseline():
    model, x = conv1d_model(seed=2), series() + 1.0
    b = glas_core.signal_baseline(x, "mean", spatial_axes=(-2,))  # (N, T, C): time is axis -2
    res = glas_tf.explain(model, x, [1, 1], baseline=b, grid=GRID, sigma=SIGMA, return_result=True)
    ref = reference(model, x[0], 1, baseline=np.transpose(b[0]).astype(np.float64))
    np.testing.assert_allclose(paper_scale(res[0])[0], ref, rtol=0, atol=1e-4 * np.abs(ref).max())


def test_recursive_and_multiscale_on_series():
    model, x = conv1d_model(), series()
    assert glas_tf.explain_recursive(model, x, [0, 1], grid=GRID, sigma=1.0, max_iter=2).shape == (2, T)
    scales = glas_tf.explain_multiscale(model, x, 1, sigmas=[2.0, 1.0], grid=GRID)
    assert len(scales) == 2 and all(np.shape(m) == (2, T) for m in scales)


def test_refusals():
    model = conv1d_model()
    with pytest.raises(GLASError, match=r"^images must be a channels-last \(N, T, C\) series, the layout of the "
                                        r"model's input \(None, 20, 2\), got shape \(2, 2, 20\), whose axis of 2 "
                                        r"\(the model's channels\) comes before its last axis of 20: a channels-first "
                                        r"\(N, C, T\) series; transpose it with np.transpose\(x, \(0, 2, 1\)\)"):
        glas_tf.explain(model, np.transpose(series(), (0, 2, 1)), 0)
    with pytest.raises(GLASError, match=r"images must be 20 time steps, as the model's input shape"):
        glas_tf.explain(model, np.zeros((1, 12, C), np.float32), 0, grid=4)
    with pytest.raises(GLASError, match=r"images must be a channels-last batch of series \(N, T, C\) or one series"):
        glas_tf.explain(model, np.zeros((1, 1, T, C), np.float32), 0)
    with pytest.raises(GLASError, match=r"grid must be at most the input's size \(20,\)"):
        glas_tf.explain(model, series(), 0, grid=21)
