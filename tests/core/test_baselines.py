"""glas_core.baselines: zero, per-channel mean and low-pass baselines for signals."""

from __future__ import annotations

import math

import numpy as np
import pytest

import glas_core
from glas_core import GLASError
from glas_core.baselines import signal_baseline
from tests.core.reference import reference_glas, reference_grid_points
from tests.core.toy_models import logistic_model


def _loop_lowpass_1d(v, sigma):
    """Plain loop: a normalised Gaussian of radius round(2 sigma) with reflected borders."""
    r = max(1, int(round(2 * sigma)))
    w = [math.exp(-(j * j) / (2 * sigma * sigma)) for j in range(-r, r + 1)]
    total = sum(w)
    n = len(v)
    out = np.zeros(n)
    for i in range(n):
        acc = 0.0
        for j, wj in zip(range(-r, r + 1), w):
            k = i + j
            k = -k if k < 0 else (2 * (n - 1) - k if k > n - 1 else k)  # reflect without repeating the edge
            acc += wj * v[k]
        out[i] = acc / total
    return out


def test_zero_is_the_paper():
    assert signal_baseline(np.ones((2, 8)), "zero") == 0.0


def test_mean_is_per_example_and_channel():
    x = np.array([[[1.0, 3.0, 5.0], [0.0, 0.0, 6.0]], [[2.0, 2.0, 2.0], [9.0, 0.0, 0.0]]])  # (N, C, T)
    b = signal_baseline(x, "mean")
    np.testing.assert_array_equal(b, [[[3, 3, 3], [2, 2, 2]], [[2, 2, 2], [3, 3, 3]]])
    # channels-last (N, T, C): the time axis is -2
    np.testing.assert_array_equal(signal_baseline(np.swapaxes(x, 1, 2), "mean", spatial_axes=(-2,)),
                                  np.swapaxes(b, 1, 2))


def test_lowpass_matches_a_loop_and_keeps_constants():
    rng = np.random.default_rng(0)
    x = rng.random((2, 3, 40))
    b = signal_baseline(x, "lowpass", sigma_px=2.5)
    for n in range(2):
        for c in range(3):
            np.testing.assert_allclose(b[n, c], _loop_lowpass_1d(x[n, c], 2.5), rtol=1e-12)
    np.testing.assert_allclose(signal_baseline(np.full((1, 30), 4.0), "lowpass", sigma_px=3.0), 4.0, rtol=1e-12)
    # per axis on a (C, T, H, W) clip: only time is smoothed where the other scales are tiny
    clip = rng.random((1, 12, 4, 4))
    per_axis = signal_baseline(clip, "lowpass", spatial_axes=(1, 2, 3), sigma_px=(2.0, 1e-3, 1e-3))
    np.testing.assert_allclose(per_axis[0, :, 1, 2], _loop_lowpass_1d(clip[0, :, 1, 2], 2.0), rtol=1e-10)


def test_a_mean_baseline_in_explain_matches_the_reference():
    x = np.random.default_rng(1).random((2, 30)) + 3.0
    rng = np.random.default_rng(2)
    score_fn, score_one = logistic_model(rng.normal(scale=0.1, size=(60, 2)), rng.normal(size=2))
    b = signal_baseline(x, "mean")
    res = glas_core.explain(score_fn, x, spatial_axes=(-1,), grid=6, sigma=1.0, baseline=b)
    sig = (30 / 6,)
    ref, *_ = reference_glas(score_one, x, reference_grid_points((30,), (6,)), sig, sig, sig, baseline=b)
    np.testing.assert_allclose(res.saliency, ref, rtol=1e-10, atol=1e-14)


def test_the_input_namespace_dtype_and_device_are_kept():
    xp = pytest.importorskip("array_api_strict")
    x = xp.asarray(np.random.default_rng(3).random((2, 16)), dtype=xp.float32, device=xp.Device("device1"))
    for kind, kw in (("mean", {}), ("lowpass", dict(sigma_px=2.0))):
        b = signal_baseline(x, kind, **kw)
        assert b.dtype == xp.float32 and b.device == x.device and b.shape == x.shape


@pytest.mark.parametrize("call,fragment", [
    (lambda: signal_baseline(np.ones((1, 8)), "median"), "kind must be 'zero', 'mean' or 'lowpass', got 'median'"),
    (lambda: signal_baseline(np.ones((1, 8)), "lowpass"), "sigma_px must be a positive number or 1 per-axis"),
    (lambda: signal_baseline(np.ones((1, 8)), "lowpass", sigma_px=0), "sigma_px must be a positive number"),
    (lambda: signal_baseline(np.ones((1, 4, 4, 4)), "lowpass", spatial_axes=(1, 2, 3), sigma_px=(1, 2)),
     "3 per-axis positive numbers, got (1, 2)"),
    (lambda: signal_baseline(np.ones((1, 8)), "mean", sigma_px=3), "sigma_px must be None unless kind='lowpass'"),
    (lambda: signal_baseline(np.ones((1, 8), dtype=int), "mean"), "x must be a real floating array, got dtype int"),
    (lambda: signal_baseline(np.ones((1, 8)), "mean", spatial_axes=(4,)), "spatial_axes must be axes of an input"),
])
def test_refusals(call, fragment):
    with pytest.raises(GLASError) as err:
        call()
    assert fragment in str(err.value)
