"""glas_core against the independent loop reference (tests/core/reference.py)."""

from __future__ import annotations

import numpy as np
import pytest

import glas_core
from tests.core.reference import reference_glas, reference_grid_points
from tests.core.toy_models import logistic_model


def _model(shape, n_targets=2, seed=0):
    rng = np.random.default_rng(seed)
    w = rng.normal(scale=0.3, size=(int(np.prod(shape)), n_targets))
    c = rng.normal(size=n_targets)
    return logistic_model(w, c)


def test_grid_points_match_cell_centres():
    pts = glas_core.grid_points((10, 6), (5, 3))
    np.testing.assert_allclose(pts, np.array(reference_grid_points((10, 6), (5, 3))))
    # hand check: 10 px in 5 cells -> centres 0.5, 2.5, ..., 8.5; 6 px in 3 cells -> 0.5, 2.5, 4.5
    assert pts[0].tolist() == [0.5, 0.5] and pts[-1].tolist() == [8.5, 4.5]


@pytest.mark.parametrize("mode", ["fusion", "light", "shadow"])
def test_grid_2d_matches_reference(mode):
    x = np.random.default_rng(1).random((2, 9, 12))
    score_fn, score_one = _model(x.shape)
    grid, sigma = (3, 4), (1.5, 0.8, 2.0)  # cells: 3 px along H, 3 px along W
    res = glas_core.explain(score_fn, x, grid=grid, sigma=sigma, mode=mode, batch_size=5)
    cell = (9 / 3, 12 / 4)
    sig = [tuple(s * c for c in cell) for s in sigma]
    ref, clean, f_l, f_s = reference_glas(score_one, x, reference_grid_points((9, 12), grid), *sig, mode=mode)
    np.testing.assert_allclose(res.saliency, ref, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(res.clean_scores, clean, rtol=1e-12)
    if mode != "shadow":
        np.testing.assert_allclose(res.light_scores, f_l, rtol=1e-10)
    if mode != "light":
        np.testing.assert_allclose(res.shadow_scores, f_s, rtol=1e-10)
    assert res.n_forward == (2 * 12 + 1 if mode == "fusion" else 12 + 1)


def test_custom_points_2d_with_baseline_matches_reference():
    x = np.random.default_rng(2).random((3, 8, 7))
    score_fn, score_one = _model(x.shape, n_targets=3)
    points = np.array([[1.0, 2.0], [6.5, 0.0], [3.2, 5.9], [7.0, 6.0]])
    sigma_px = ((2.0, 1.0), 1.5, (3.0, 2.5))
    res = glas_core.explain(score_fn, x, points=points, sigma_px=sigma_px, baseline=0.25, batch_size=3)
    ref, *_ = reference_glas(score_one, x, [tuple(p) for p in points], (2.0, 1.0), (1.5, 1.5), (3.0, 2.5),
                             baseline=0.25)
    np.testing.assert_allclose(res.saliency, ref, rtol=1e-10, atol=1e-14)
    assert res.grid is None and res.saliency.shape == (3, 8, 7)


def test_grid_3d_matches_reference():
    x = np.random.default_rng(3).random((1, 6, 5, 4))
    score_fn, score_one = _model(x.shape)
    res = glas_core.explain(score_fn, x, spatial_axes=(-3, -2, -1), grid=(3, 5, 2), sigma=1.0, batch_size=7)
    sig = (6 / 3, 5 / 5, 4 / 2)
    ref, *_ = reference_glas(score_one, x, reference_grid_points((6, 5, 4), (3, 5, 2)), sig, sig, sig)
    np.testing.assert_allclose(res.saliency, ref, rtol=1e-10, atol=1e-14)


def test_custom_points_3d_matches_reference():
    x = np.random.default_rng(4).random((2, 5, 6, 4))
    score_fn, score_one = _model(x.shape)
    points = np.array([[1.0, 1.0, 1.0], [3.5, 4.0, 2.0], [4.0, 0.5, 3.0]])
    res = glas_core.explain(score_fn, x, spatial_axes=(1, 2, 3), points=points, sigma_px=(2.0, 1.0, 1.5))
    ref, *_ = reference_glas(score_one, x, [tuple(p) for p in points], (2.0,) * 3, (1.0,) * 3, (1.5,) * 3)
    np.testing.assert_allclose(res.saliency, ref, rtol=1e-10, atol=1e-14)


def test_channels_last_equals_channels_first():
    x = np.random.default_rng(5).random((3, 10, 10))
    score_fn, _ = _model(x.shape)
    first = glas_core.explain(score_fn, x, grid=5)
    last = glas_core.explain(lambda b: score_fn(np.moveaxis(b, -1, 1)), np.moveaxis(x, 0, -1), grid=5,
                             spatial_axes=(0, 1))
    np.testing.assert_allclose(last.saliency, first.saliency, rtol=1e-12)


@pytest.mark.parametrize("batch_size", [1, 4, 64])
def test_batch_size_does_not_change_the_map(batch_size):
    x = np.random.default_rng(6).random((1, 12, 12))
    score_fn, _ = _model(x.shape)
    base = glas_core.explain(score_fn, x, grid=6, batch_size=73)  # one chunk: every row at once
    res = glas_core.explain(score_fn, x, grid=6, batch_size=batch_size)
    np.testing.assert_allclose(res.saliency, base.saliency, rtol=1e-12)


def test_progress_reports_every_chunk_with_exact_total():
    x = np.random.default_rng(7).random((1, 8, 8))
    score_fn, _ = _model(x.shape)
    calls = []
    res = glas_core.explain(score_fn, x, grid=4, batch_size=10, progress=lambda d, t: calls.append((d, t)))
    assert calls == [(10, 33), (20, 33), (30, 33), (33, 33)] and res.n_forward == 33


def test_input_is_not_modified():
    x = np.random.default_rng(8).random((2, 8, 8))
    before = x.copy()
    score_fn, _ = _model(x.shape)
    glas_core.explain(score_fn, x, grid=4, baseline=np.full((2, 8, 8), 0.5))
    glas_core.explain_recursive(score_fn, x, grid=4)
    np.testing.assert_array_equal(x, before)
