"""Recursive GLAS that keeps the light scores of points far from anything dimmed (``reuse_tol``).

References: the full loop (``reuse_tol=None``, itself checked against the paper's Algorithm 1 in
test_recursive.py), which ``reuse_tol=0`` must reproduce; a hand-computed mask overlap; a row
count by hand. The whole loop is compared with an independent implementation (explicit masks) in
tests/benchmarks/test_reuse_reference.py.
"""

from __future__ import annotations

import numpy as np
import pytest

import glas_core
from glas_core.light_reuse import light_overlap

RNG = np.random.default_rng(7)
WEIGHTS = RNG.standard_normal((3, 32, 32))
WEIGHTS[:, 4:12, 4:12] += 3.0
WEIGHTS[:, 20:28, 18:26] += 3.0


def log_softmax_scores(batch):
    """``(B, 3)`` log-probabilities of a linear 3-class model (a NumPy loop-free reference model)."""
    z = np.asarray(batch, dtype=np.float64).reshape(batch.shape[0], -1) @ WEIGHTS.reshape(-1) / 40.0
    logits = np.stack([z, -z, 0.0 * z], axis=1)
    top = logits.max(axis=1, keepdims=True)
    return logits - top - np.log(np.exp(logits - top).sum(axis=1, keepdims=True))


def image():
    return np.random.default_rng(8).random((3, 32, 32))


@pytest.mark.parametrize("log_scores", [True, False])
def test_tolerance_zero_rescores_every_light_row_and_gives_the_full_loop(log_scores):
    fn = log_softmax_scores if log_scores else (lambda b: np.exp(log_softmax_scores(b)))
    full = glas_core.explain_recursive(fn, image(), grid=6, max_iter=4, log_scores=log_scores)
    kept = glas_core.explain_recursive(fn, image(), grid=6, max_iter=4, log_scores=log_scores, reuse_tol=0.0)
    np.testing.assert_allclose(kept.to_numpy(), full.to_numpy(), rtol=1e-12, atol=0)  # other chunks: round-off
    assert kept.stop_reasons == full.stop_reasons
    later_sweeps = sum(len(its) - 1 for its in full.iterations)
    # the stale light rows come in a sweep of their own, with its own clean row
    assert kept.n_forward == full.n_forward + later_sweeps


def test_a_large_tolerance_skips_light_rows_and_stays_close():
    full = glas_core.explain_recursive(log_softmax_scores, image(), grid=6, sigma=1.0, max_iter=4, log_scores=True)
    kept = glas_core.explain_recursive(log_softmax_scores, image(), grid=6, sigma=1.0, max_iter=4, log_scores=True,
                                       reuse_tol=0.05)
    assert kept.n_forward < full.n_forward
    for a, b in zip(kept.iterations[0], full.iterations[0]):
        assert np.abs(glas_core.to_numpy(a.saliency) - glas_core.to_numpy(b.saliency)).max() < 0.05


def test_mask_overlap_by_hand():
    half = np.zeros((32, 32))
    half[:, 16:] = 1.0  # the right half changed
    sigma = (2.0, 2.0)
    assert light_overlap(np.array([[4.0, 3.5]]), sigma, half)[0] < 1e-6          # 6 sigma away
    assert light_overlap(np.array([[15.5, 15.5]]), sigma, half)[0] == pytest.approx(0.5, abs=1e-12)  # on the edge
    assert light_overlap(np.array([[10.0, 28.0]]), sigma, half)[0] == pytest.approx(1.0, abs=1e-6)   # inside
    quarter = 0.25 * half
    assert light_overlap(np.array([[10.0, 28.0]]), sigma, quarter)[0] == pytest.approx(0.25, abs=1e-6)


def test_the_second_sweep_scores_the_clean_row_every_shadow_row_and_only_stale_light_rows():
    x, tol = image(), 0.05

    def class_0(batch):
        return log_softmax_scores(batch)[:, :1]

    run = glas_core.explain_recursive(class_0, x, grid=6, sigma=1.0, max_iter=2, log_scores=True, reuse_tol=tol)
    first = glas_core.explain(class_0, x, grid=6, sigma=1.0, log_scores=True)
    it = run.iterations[0][0]
    removed = {tuple(p) for p in it.removed_points.tolist()}
    remaining = np.array([p for p in first.points.tolist() if tuple(p) not in removed])
    # the first dimming multiplied the image by 1 - S: the change a mask saw is S itself
    stale = int((light_overlap(remaining, first.sigma_px[0], glas_core.to_numpy(it.saliency)) > tol).sum())
    assert 0 < stale < len(remaining)
    # the shadow sweep's clean row is the dimmed image the stop rule scored: reused, not rescored
    second = len(remaining) + (stale + 1)
    assert run.n_forward == first.n_forward + 1 + second + 1  # each iteration also scores its dimmed image


def test_refusals():
    for bad in (1.0, -0.1, True, "0.05"):
        with pytest.raises(glas_core.GLASError, match="reuse_tol must be None or a number in"):
            glas_core.explain_recursive(log_softmax_scores, image(), grid=4, log_scores=True, reuse_tol=bad)
    with pytest.raises(glas_core.GLASError, match="only fusion sweeps have light scores"):
        glas_core.explain_recursive(log_softmax_scores, image(), grid=4, log_scores=True, mode="shadow",
                                    reuse_tol=0.05)
