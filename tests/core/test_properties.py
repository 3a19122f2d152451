"""Property tests (hypothesis): masks, linearity of Eq. 3, translation equivariance."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import glas_core
from glas_core._array_api import namespace_of
from glas_core.fusion import fuse_grid, fuse_points
from tests.core.toy_models import region_model

XP = namespace_of(np.zeros(1))


@settings(max_examples=40, deadline=None)
@given(h=st.integers(4, 20), w=st.integers(4, 20), data=st.data(),
       sig_l=st.floats(0.3, 8.0), sig_s=st.floats(0.3, 8.0))
def test_light_rows_are_masks_in_unit_range_with_peak_one_at_the_point(h, w, data, sig_l, sig_s):
    point = (data.draw(st.integers(0, h - 1)), data.draw(st.integers(0, w - 1)))
    rows = []

    def spy(batch):
        rows.append(batch.copy())
        return np.full((batch.shape[0], 1), 0.5)

    glas_core.explain(spy, np.ones((1, h, w)), points=np.array([point], dtype=float), sigma_px=(sig_l, sig_s, 1.0))
    clean, light, shadow = np.concatenate(rows)[:, 0]
    assert np.all(clean == 1.0)
    assert np.all((light >= 0) & (light <= 1)) and light[point] == 1.0 and light.max() == 1.0
    assert np.all((shadow >= 0) & (shadow <= 1)) and shadow[point] == 0.0
    # the light mask is separable: G = outer(G_y, G_x)
    np.testing.assert_allclose(light, np.outer(light[:, point[1]], light[point[0], :]), rtol=1e-12, atol=1e-300)


@settings(max_examples=30, deadline=None)
@given(a=st.floats(-3, 3), b=st.floats(-3, 3), seed=st.integers(0, 2**16), ky=st.integers(1, 5), kx=st.integers(1, 5))
def test_fusion_is_linear_in_the_scores(a, b, seed, ky, kx):
    rng = np.random.default_rng(seed)
    v1, v2 = rng.random((2, ky * kx)), rng.random((2, ky * kx))
    wy, wx = rng.random((ky, 7)), rng.random((kx, 6))
    lhs = fuse_grid(XP, a * v1 + b * v2, (ky, kx), [wy, wx])
    rhs = a * fuse_grid(XP, v1, (ky, kx), [wy, wx]) + b * fuse_grid(XP, v2, (ky, kx), [wy, wx])
    np.testing.assert_allclose(lhs, rhs, rtol=1e-9, atol=1e-12)
    py, px = rng.random((ky * kx, 7)), rng.random((ky * kx, 6))
    lhs = fuse_points(XP, a * v1 + b * v2, [py, px])
    rhs = a * fuse_points(XP, v1, [py, px]) + b * fuse_points(XP, v2, [py, px])
    np.testing.assert_allclose(lhs, rhs, rtol=1e-9, atol=1e-12)


@settings(max_examples=15, deadline=None)
@given(r=st.integers(5, 8), c=st.integers(5, 8), dr=st.integers(-2, 3), dc=st.integers(-2, 3))
def test_grid_map_of_a_translated_problem_is_translated(r, c, dr, dc):
    """Moving the scored region by whole grid cells moves the map by the same number of pixels."""
    cell = 4  # 64 px, grid 16

    def region(rr, cc):
        return (slice(rr * cell, rr * cell + cell), slice(cc * cell, cc * cell + cell))

    x = np.ones((1, 64, 64))
    kw = dict(grid=16, sigma=(0.8, 0.8, 0.8))
    base = glas_core.explain(region_model(region(r, c)), x, **kw).saliency[0]
    moved = glas_core.explain(region_model(region(r + dr, c + dc)), x, **kw).saliency[0]
    sy, sx = dr * cell, dc * cell
    # compare a window around the region, well away from the image border
    win = (slice(r * cell - 8, r * cell + 12), slice(c * cell - 8, c * cell + 12))
    shifted = (slice(win[0].start + sy, win[0].stop + sy), slice(win[1].start + sx, win[1].stop + sx))
    np.testing.assert_allclose(moved[shifted], base[win], rtol=0, atol=1e-6 * base.max())
