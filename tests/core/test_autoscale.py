"""sigma chosen per image and target: the finest scale whose best shadow still removes evidence."""

from __future__ import annotations

import numpy as np
import pytest

import glas_core
from glas_core.autoscale import best_shadow_drop

X = np.full((1, 30, 30), 0.5)
X[0, 12:15, 12:15] = 1.0  # a small part


def part_and_global(batch):
    """Target 0 reads the small part; target 1 the whole image's mean brightness."""
    part = batch[:, 0, 12:15, 12:15].mean(axis=(1, 2))
    whole = batch[:, 0].mean(axis=(1, 2))
    return np.stack([1 / (1 + np.exp(-(8 * part - 4))), 1 / (1 + np.exp(-(8 * whole - 4)))], axis=1)


def test_each_target_gets_the_finest_scale_that_still_carries_evidence():
    res = glas_core.explain_auto(part_and_global, X, sigmas=(5.0, 2.0, 1.0, 0.5), grid=10, min_drop=0.05)
    drops = np.stack([best_shadow_drop(r) for r in res.scales])
    # the part's score falls under a small shadow at every scale; the global mean hardly moves at fine scales
    assert (drops[:, 0] >= 0.05).all() and drops[0, 1] >= 0.05 and drops[-1, 1] < 0.05
    assert res.sigmas[0] == 0.5 and res.reasons[0] == "finest informative scale"
    finest_ok = max(j for j in range(4) if drops[j, 1] >= 0.05)
    assert res.sigmas[1] == (5.0, 2.0, 1.0, 0.5)[finest_ok] and res.sigmas[1] != 0.5
    for t in range(2):
        j = (5.0, 2.0, 1.0, 0.5).index(res.sigmas[t])
        assert np.array_equal(res.to_numpy()[t], res.scales[j].to_numpy()[t])
    assert res.n_forward == sum(r.n_forward for r in res.scales) < 4 * (2 * 100 + 1)


def test_best_shadow_drop_by_hand():
    r = glas_core.explain(part_and_global, X, grid=5, sigma=1.0)
    shadow = np.asarray(r.shadow_scores) - 1e-5
    np.testing.assert_allclose(best_shadow_drop(r), shadow.max(axis=1) / np.asarray(r.clean_scores), rtol=1e-12)


def test_no_informative_scale_keeps_the_coarsest_and_says_so():
    flat = lambda b: np.full((len(b), 1), 0.3) + 1e-3 * b[:, 0, :1, :1].mean(axis=(1, 2))[:, None]  # noqa: E731
    res = glas_core.explain_auto(flat, X, sigmas=(3.0, 1.0), grid=5)
    assert res.sigmas == [3.0] and res.reasons == ["no scale informative; coarsest kept"]


def test_min_drop_is_checked():
    with pytest.raises(glas_core.GLASError, match=r"min_drop must be a share in \(0, 1\), got 0"):
        glas_core.explain_auto(part_and_global, X, min_drop=0)
