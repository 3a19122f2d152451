"""The core's light-score reuse (``explain_recursive(reuse_tol=...)``) against the benchmark's
independent loop (``benchkit/reuse.py``: explicit per-point masks, its own stop and fusion code).

Both keep a point's light score while its mask saw at most ``tol`` of dimming since the score
was taken; the core scores the stale light rows in a sweep of their own, with its own clean row,
so it counts one row more per later iteration.
"""

from __future__ import annotations

import numpy as np
import pytest

from benchkit.reuse import recursive_with_reuse

import glas_core

RNG = np.random.default_rng(0)
X = RNG.random((3, 32, 32)).astype(np.float32)
W = RNG.standard_normal((3, 32, 32)).astype(np.float32)
W[:, 4:12, 4:12] += 3.0
W[:, 20:28, 18:26] += 3.0


def log_probabilities(batch) -> np.ndarray:
    """``(B, 3)`` log-softmax of a linear 3-class model, in float64."""
    z = (np.asarray(batch, dtype=np.float64) * W).sum(axis=(1, 2, 3)) / 40.0
    logits = np.stack([z, -z, 0.0 * z], axis=1)
    return logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))


@pytest.mark.parametrize("tol, dim", [(0.05, "map"), (0.2, "map"), (0.05, "above_t1")])
def test_core_reuse_equals_the_reference_loop(tol, dim):
    plan = glas_core.GLASConfig(grid=6, sigma=1.0).resolve((32, 32))
    ref = recursive_with_reuse(lambda b: log_probabilities(b)[:, 0], X, plan, tol=tol, variant="light", max_iter=4,
                               dim=dim)
    got = glas_core.explain_recursive(lambda b: log_probabilities(b)[:, :1], X, grid=6, sigma=1.0, max_iter=4,
                                      log_scores=True, reuse_tol=tol, dim=dim)
    maps = [glas_core.to_numpy(it.saliency) for it in got.iterations[0]]
    assert len(maps) == len(ref.maps) == 4 and got.stop_reasons == [ref.stop_reason]
    for a, b in zip(maps, ref.maps):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-5)
    assert ref.n_forward < ref.n_full  # light rows were kept
    assert got.n_forward == ref.n_forward + (len(maps) - 1)


@pytest.mark.parametrize("dim", ["map", "above_t1"])
def test_the_reference_loop_without_reuse_equals_the_core(dim):
    """Maps and forward counts: each later sweep takes its clean score from the dimmed image's, in both."""
    plan = glas_core.GLASConfig(grid=6, sigma=1.0).resolve((32, 32))
    ref = recursive_with_reuse(lambda b: log_probabilities(b)[:, 0], X, plan, tol=None, max_iter=3, dim=dim)
    got = glas_core.explain_recursive(lambda b: log_probabilities(b)[:, :1], X, grid=6, sigma=1.0, max_iter=3,
                                      log_scores=True, dim=dim)
    maps = [glas_core.to_numpy(it.saliency) for it in got.iterations[0]]
    assert len(maps) == len(ref.maps) == 3 and got.stop_reasons == [ref.stop_reason]
    for a, b in zip(maps, ref.maps):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-5)
    assert got.n_forward == ref.n_forward == ref.n_full == (2 * 36 + 1) + 1 + sum(
        2 * it.n_points + 1 for it in got.iterations[0][1:])


def test_the_reference_loop_variants_run():
    """``region`` and ``later_sigma_px`` exist only in the reference loop (the benchmark's candidates)."""
    plan = glas_core.GLASConfig(grid=6, sigma=1.0).resolve((32, 32))
    later = glas_core.GLASConfig(grid=6, sigma=0.5).resolve((32, 32)).sigma_px
    region = recursive_with_reuse(lambda b: log_probabilities(b)[:, 0], X, plan, tol=None, max_iter=2, dim="region")
    finer = recursive_with_reuse(lambda b: log_probabilities(b)[:, 0], X, plan, tol=None, max_iter=2,
                                 later_sigma_px=later)
    assert len(region.maps) == len(finer.maps) == 2
    with pytest.raises(ValueError, match="dim must be"):
        recursive_with_reuse(lambda b: log_probabilities(b)[:, 0], X, plan, tol=None, dim="soft")
    with pytest.raises(ValueError, match="later_sigma_px needs tol=None"):
        recursive_with_reuse(lambda b: log_probabilities(b)[:, 0], X, plan, tol=0.05, later_sigma_px=later)
