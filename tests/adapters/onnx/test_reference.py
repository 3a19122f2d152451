"""ONNX maps against the plain NumPy loop of tests/core/reference.py, on hand-written linear models.

The models (``graphs.linear``) compute ``flatten(x) @ W + b``; the reference recomputes those
logits, their softmax / sigmoid in float64 and GLAS with loops over points and pixels, sharing
no code with the adapter or the core.  The adapter's maps are Eq. 3 divided by one positive
factor per target (``log_scale``): multiplied back, they must equal the reference within 1e-4
of its peak.
"""

from __future__ import annotations

import numpy as np
import pytest

from glas_adapters import onnx as glas_onnx
from tests.adapters.onnx import graphs
from tests.core.reference import reference_glas, reference_grid_points

SIZE, GRID, SIGMA = 12, 3, (2.0, 1.0, 1.5)


def _softmax(z):
    e = np.exp(z - z.max())
    return e / e.sum()


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def reference_maps(x_chw, w, b, targets, layout="NCHW", mode="fusion", link=_softmax, grid=GRID, sigma=SIGMA,
                   baseline=0.0):
    """Reference maps ``(T, H, W)`` of one ``(C, H, W)`` image for the linear model."""
    def score_one(img):
        flat = (img if layout == "NCHW" else np.transpose(img, (1, 2, 0))).reshape(-1).astype(np.float64)
        return link(flat @ w + b)[list(targets)]

    shape = x_chw.shape[1:]
    points = reference_grid_points(shape, (grid, grid))
    sig = [tuple(s * n / grid for n in shape) for s in sigma]
    return reference_glas(score_one, x_chw.astype(np.float64), points, *sig, mode=mode, baseline=baseline)[0]


def rescaled(result):
    """The paper's Eq. 3 from a result: a log-domain map times ``exp(log_scale)`` per target (a map of
    probabilities, with no ``log_scale``, is Eq. 3 itself)."""
    if result.log_scale is None:
        return np.asarray(result.saliency, dtype=np.float64)
    scale = np.exp(np.asarray(result.log_scale, np.float64))
    return np.asarray(result.saliency, dtype=np.float64) * scale[:, None, None]


def assert_peak_close(got, want, tol=1e-4):
    err = np.abs(got - want).max()
    assert err <= tol * np.abs(want).max(), (err, np.abs(want).max())


def images_chw(n=2, channels=3, seed=0):
    return np.random.default_rng(seed).random((n, channels, SIZE, SIZE)).astype(np.float32)


@pytest.mark.parametrize("mode", ["fusion", "light", "shadow"])
def test_nchw_dynamic_batch_several_targets(tmp_path, options, mode):
    w, b = graphs.linear_weights(3 * SIZE * SIZE, 4)
    path = graphs.linear(str(tmp_path / "m.onnx"), ["batch", 3, SIZE, SIZE], w, b)
    x = images_chw()
    targets = [[0, 2], [3, 1]]
    results = glas_onnx.explain(path, x, targets, grid=GRID, sigma=SIGMA, mode=mode, batch_size=7,
                                session_options=options, return_result=True)
    for i in range(2):
        assert_peak_close(rescaled(results[i]), reference_maps(x[i], w, b, targets[i], mode=mode))


@pytest.mark.parametrize("mode", ["fusion", "light", "shadow"])
def test_nhwc_batch_one_model(tmp_path, options, mode):
    w, b = graphs.linear_weights(SIZE * SIZE * 3, 3, seed=1)
    path = graphs.linear(str(tmp_path / "m.onnx"), [1, SIZE, SIZE, 3], w, b)
    x = images_chw(seed=1)
    x_hwc = np.transpose(x, (0, 2, 3, 1))
    results = glas_onnx.explain(path, x_hwc, [2, 0], grid=GRID, sigma=SIGMA, mode=mode, session_options=options,
                                return_result=True)
    for i, t in enumerate([2, 0]):
        assert_peak_close(rescaled(results[i]), reference_maps(x[i], w, b, [t], layout="NHWC", mode=mode))


def test_float64_model_and_baseline(tmp_path, options):
    w, b = graphs.linear_weights(2 * SIZE * SIZE, 3, seed=2)
    path = graphs.linear(str(tmp_path / "m.onnx"), ["n", 2, SIZE, SIZE], w, b, dtype=np.float64)
    x = images_chw(1, channels=2, seed=2)
    (result,) = glas_onnx.explain(path, x, [[0, 1, 2]], grid=GRID, sigma=SIGMA, baseline=0.5, session_options=options,
                                  return_result=True)
    assert result.saliency.dtype == np.float64
    assert_peak_close(rescaled(result), reference_maps(x[0], w, b, [0, 1, 2], baseline=0.5), tol=1e-9)


def test_sigmoid_multilabel(tmp_path, options):
    w, b = graphs.linear_weights(3 * SIZE * SIZE, 4, seed=3)
    path = graphs.linear(str(tmp_path / "m.onnx"), ["batch", 3, SIZE, SIZE], w, b)
    x = images_chw(1, seed=3)
    (result,) = glas_onnx.explain(path, x, [[1, 3]], grid=GRID, sigma=SIGMA, probabilities="sigmoid",
                                  session_options=options, return_result=True)
    assert_peak_close(rescaled(result), reference_maps(x[0], w, b, [1, 3], link=_sigmoid))


@pytest.mark.parametrize("probabilities", [None, "callable"])
def test_probability_outputs(tmp_path, options, probabilities):
    """A softmax head explained with probabilities=None, and logits with a callable softmax."""
    w, b = graphs.linear_weights(3 * SIZE * SIZE, 4, seed=4)
    head = "softmax" if probabilities is None else None
    path = graphs.linear(str(tmp_path / "m.onnx"), ["batch", 3, SIZE, SIZE], w, b, head=head)
    x = images_chw(1, seed=4)
    calls = []

    def softmax_rows(out):
        calls.append(out.shape)
        e = np.exp(out - out.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    chosen = None if probabilities is None else softmax_rows
    (result,) = glas_onnx.explain(path, x, 2, grid=GRID, sigma=SIGMA, probabilities=chosen, session_options=options,
                                  return_result=True)
    assert_peak_close(rescaled(result), reference_maps(x[0], w, b, [2]))
    assert probabilities is None or len(calls) >= 2  # the first outputs' check and the sweep
    assert result.log_scale is None  # probabilities are fused as probabilities, as in every adapter


def test_over_confident_model_keeps_an_informative_map(tmp_path, options):
    """Target log-probabilities near -200: float32 probabilities are 0, the log-domain map is not."""
    w, b = graphs.linear_weights(3 * SIZE * SIZE, 3, seed=5, scale=1.0)
    x = images_chw(1, seed=5)
    logits = x[0].reshape(-1).astype(np.float64) @ w + b
    w = w * (200.0 / (logits.max() - logits.min()))  # the least likely class: log p of about -200
    b = b * 0
    path = graphs.linear(str(tmp_path / "m.onnx"), ["batch", 3, SIZE, SIZE], w, b)
    target = int(np.argmin(x[0].reshape(-1).astype(np.float64) @ w))
    assert np.float32(_softmax(x[0].reshape(-1).astype(np.float64) @ w)[target]) == 0.0
    (result,) = glas_onnx.explain(path, x, target, grid=GRID, sigma=SIGMA, session_options=options,
                                  return_result=True)
    ref = reference_maps(x[0], w, b, [target])[0]
    got = np.asarray(result.saliency[0], dtype=np.float64)
    assert np.ptp(got) > 0.1 * got.max()  # a map with contrast, not a flat one
    assert_peak_close(got / got.max(), ref / ref.max())
