"""Adaptive coarse-to-fine search: fewer rows, the exhaustive map where every point is kept, and no
evidence invented at points the finer scale did not sweep."""

from __future__ import annotations

import numpy as np
import pytest

import glas_core
from glas_core.adaptive import selected_points
from tests.core.reference import reference_glas, reference_grid_points

X = np.random.default_rng(0).random((1, 30, 30))
X[0, 6:12, 18:24] += 1.0  # the object


def score(batch):
    """Probability rises with the brightness of the object's patch."""
    inside = batch[:, 0, 6:12, 18:24].mean(axis=(1, 2))
    p = 1.0 / (1.0 + np.exp(-(6.0 * inside - 4.0)))
    return np.stack([p, 1 - p], axis=1)


def test_keep_everything_equals_the_exhaustive_multiscale():
    calls = []
    exhaustive = glas_core.explain_multiscale(score, X, [3.0, 1.0], grid=6)
    adaptive = glas_core.explain_multiscale(lambda b: (calls.append(len(b)), score(b))[1], X, [3.0, 1.0],
                                            grid=6, adaptive=True, keep=1e-12)
    for a, e in zip(adaptive, exhaustive):
        np.testing.assert_allclose(a.to_numpy(), e.to_numpy(), rtol=1e-12, atol=1e-15)
    # the clean row is scored once, by the first scale only
    assert [r.n_forward for r in adaptive] == [73, 72] and sum(calls) == 145


def test_finer_scales_sweep_only_the_evidence_and_match_a_reference_there():
    rows = []
    res = glas_core.explain_multiscale(lambda b: (rows.append(len(b)), score(b)[:, :1])[1], X, [3.0, 1.0, 0.5],
                                       grid=10, adaptive=True)
    full = 1 + 2 * 100
    assert res[0].n_forward == full and res[1].n_forward < 0.5 * full and res[2].n_forward < 0.2 * full
    assert sum(rows) == sum(r.n_forward for r in res)
    # the finest map is Eq. 3 over the full grid with v = 0 at the points it skipped:
    # a loop reference over only the chosen points, divided by all 100
    chosen = selected_points(res[1], glas_core.adaptive.DEFAULT_KEEP)
    pts = np.array(reference_grid_points((30, 30), (10, 10)))
    sig = (0.5 * 3.0, 0.5 * 3.0)
    ref, _, f_l, f_s = reference_glas(lambda img: score(img[None])[0, :1], X, pts[chosen], sig, sig, sig)
    np.testing.assert_allclose(res[2].to_numpy(), ref * chosen.sum() / 100, rtol=1e-10, atol=1e-14)
    light = res[2].light_scores
    assert np.isnan(light[:, ~chosen]).all() and np.allclose(light[:, chosen], f_l)
    # the object's centre stays the peak of every scale
    for r in res:
        peak = np.unravel_index(np.argmax(r.to_numpy()[0]), (30, 30))
        assert 6 <= peak[0] < 12 and 18 <= peak[1] < 24


def test_selected_points_widen_by_one_cell_and_cover_every_target():
    res = glas_core.explain(score, X, grid=10, sigma=1.0)
    chosen = selected_points(res, 0.99).reshape(10, 10)
    idx = np.rint(res.points).astype(int)
    for m in res.to_numpy():
        gr, gc = divmod(int(np.argmax(m[idx[:, 0], idx[:, 1]])), 10)  # the best point of each target
        assert chosen[max(gr - 1, 0):gr + 2, max(gc - 1, 0):gc + 2].all()
    assert chosen.sum() <= 2 * 9  # two targets, at most one 3 x 3 block each


def test_adaptive_refuses_custom_points_and_a_bad_keep():
    with pytest.raises(glas_core.GLASError, match="points must be a grid search for adaptive=True"):
        glas_core.explain_multiscale(score, X, [2.0, 1.0], points=[[3.0, 3.0]], in_pixels=True, adaptive=True)
    with pytest.raises(glas_core.GLASError, match=r"keep must be a share of the peak in \(0, 1\], got 0"):
        glas_core.explain_multiscale(score, X, [2.0, 1.0], grid=4, adaptive=True, keep=0)
