"""Hand-checkable cases: a score that depends only on one region puts the map's maximum there."""

from __future__ import annotations

import numpy as np
import pytest

import glas_core
from tests.core.toy_models import region_model


@pytest.mark.parametrize("mode", ["fusion", "light", "shadow"])
@pytest.mark.parametrize("centre", [(6, 6), (20, 10), (26, 27)])
def test_region_score_peaks_on_the_region(mode, centre):
    x = np.ones((3, 32, 32))
    r, c = centre
    region = (slice(r - 2, r + 2), slice(c - 2, c + 2))  # 4x4 pixels around (r - 0.5, c - 0.5)
    res = glas_core.explain(region_model(region), x, grid=16, sigma=1.0, mode=mode)
    peak = np.unravel_index(np.argmax(res.saliency[0]), (32, 32))
    assert abs(peak[0] - (r - 0.5)) <= 1.5 and abs(peak[1] - (c - 0.5)) <= 1.5, (peak, centre)


def test_region_peak_in_a_volume():
    x = np.ones((1, 16, 16, 16))
    region = (slice(10, 13), slice(3, 6), slice(8, 11))
    res = glas_core.explain(region_model(region), x, spatial_axes=(1, 2, 3), grid=8, sigma=1.0)
    peak = np.unravel_index(np.argmax(res.saliency[0]), (16, 16, 16))
    assert np.all(np.abs(np.array(peak) - np.array([11, 4, 9])) <= 1.5), peak


def test_light_and_shadow_scores_by_hand():
    """One pixel image region, one point on it: f_l = G at the region, f_s = |1 - (1 - G)| + lam."""
    x = np.ones((1, 5, 5))
    score_fn = region_model((slice(2, 3), slice(2, 3)))  # the centre pixel
    pts = np.array([[2.0, 2.0], [2.0, 4.0]])
    res = glas_core.explain(score_fn, x, points=pts, sigma_px=(1.0, 2.0, 1.0), lam=1e-5)
    g_light_far = np.exp(-(2.0 ** 2) / (2 * 1.0 ** 2))
    g_shadow_far = np.exp(-(2.0 ** 2) / (2 * 2.0 ** 2))
    np.testing.assert_allclose(res.light_scores[0], [1.0, g_light_far], rtol=1e-12)
    np.testing.assert_allclose(res.shadow_scores[0], [1.0 + 1e-5, g_shadow_far + 1e-5], rtol=1e-12)
    # Eq. 3 at pixel (2, 2): (1/2) * (1 * f_l0 f_s0 + exp(-4/1) f_l1 f_s1)
    expected = 0.5 * (1.0 * (1.0 + 1e-5) + np.exp(-4.0) * g_light_far * (g_shadow_far + 1e-5))
    np.testing.assert_allclose(res.saliency[0, 2, 2], expected, rtol=1e-12)


def test_all_zero_light_scores_warn_instead_of_a_silent_flat_map():
    x = np.ones((1, 16, 16))

    def only_whole_image(batch):  # probability 1 for the clean image, 0 once anything is masked
        return (batch.reshape(batch.shape[0], -1).min(axis=1, keepdims=True) >= 1.0).astype(float)

    with pytest.warns(RuntimeWarning, match="every light score f_l"):
        res = glas_core.explain(only_whole_image, x, grid=4, sigma=0.5)
    assert np.all(res.saliency == 0)
    shadow = glas_core.explain(only_whole_image, x, grid=4, sigma=0.5, mode="shadow")
    assert shadow.saliency.max() > 0
