"""Coarse-to-fine: one map per sigma, each the GLAS map at that scale, sharper as sigma falls."""

from __future__ import annotations

import numpy as np

import glas_core
from tests.core.reference import reference_glas, reference_grid_points
from tests.core.toy_models import region_model


def _spread(m: np.ndarray) -> float:
    """Standard deviation (pixels) of a non-negative map seen as a distribution."""
    p = m / m.sum()
    ii, jj = np.indices(m.shape)
    ci, cj = (p * ii).sum(), (p * jj).sum()
    return float(np.sqrt((p * ((ii - ci) ** 2 + (jj - cj) ** 2)).sum()))


def test_one_map_per_sigma_equal_to_the_reference_at_that_scale():
    x = np.ones((1, 12, 12))
    score = region_model((slice(3, 5), slice(6, 9)))
    results = glas_core.explain_multiscale(score, x, sigmas=[2.0, (1.0, 0.5, 1.5)], grid=4)
    assert len(results) == 2
    for res, sig in zip(results, [(2.0, 2.0, 2.0), (1.0, 0.5, 1.5)]):
        px = [(s * 3.0, s * 3.0) for s in sig]  # 12 px / 4 cells
        ref, *_ = reference_glas(lambda im: score(im[None])[0], x, reference_grid_points((12, 12), (4, 4)), *px)
        np.testing.assert_allclose(res.saliency, ref, rtol=1e-10)


def test_maps_sharpen_from_coarse_to_fine():
    x = np.ones((1, 48, 48))
    score = region_model((slice(20, 24), slice(30, 34)))
    maps = [r.saliency[0] for r in glas_core.explain_multiscale(score, x, sigmas=[5.0, 3.0, 1.0], grid=16)]
    spreads = [_spread(m) for m in maps]
    assert spreads[0] > spreads[1] > spreads[2], spreads


def test_pixel_scales():
    x = np.ones((1, 12, 12))
    score = region_model((slice(3, 5), slice(6, 9)))
    res = glas_core.explain_multiscale(score, x, sigmas=[3.0], in_pixels=True, grid=4)[0]
    assert res.sigma_px == ((3.0, 3.0),) * 3
