"""Recursive GLAS (Algorithm 1) on a score with two separate objects."""

from __future__ import annotations

import array_api_compat
import numpy as np
import pytest

import glas_core

A = (slice(6, 10), slice(6, 10))     # the stronger object, centre (7.5, 7.5)
B = (slice(22, 26), slice(20, 24))   # the weaker object, centre (23.5, 21.5)


def two_objects(batch):
    xp = array_api_compat.array_namespace(batch)

    def mean(region):
        sub = batch[(slice(None), slice(None)) + region]
        return xp.mean(xp.reshape(sub, (sub.shape[0], -1)), axis=1)

    return xp.reshape(0.6 * mean(A) + 0.3 * mean(B), (-1, 1))


def _near(peak, centre, tol=2.0):
    return abs(peak[0] - centre[0]) <= tol and abs(peak[1] - centre[1]) <= tol


def test_second_iteration_finds_the_second_object():
    x = np.ones((1, 32, 32))
    res = glas_core.explain_recursive(two_objects, x, grid=16, sigma=1.0, t2=50.0, max_iter=2)
    its = res.iterations[0]
    assert len(its) == 2 and res.stop_reasons == ["max_iter"]
    first = np.unravel_index(np.argmax(its[0].saliency), (32, 32))
    second = np.unravel_index(np.argmax(its[1].saliency), (32, 32))
    assert _near(first, (7.5, 7.5)), first
    assert _near(second, (23.5, 21.5)), second
    # removed points lie where the first map exceeded t1, i.e. on object A
    assert len(its[0].removed_points) > 0
    assert np.all(np.abs(its[0].removed_points - 7.5).max(axis=1) <= 4.5)
    assert its[1].n_points == 256 - len(its[0].removed_points)
    # the accumulated map O is the sum of the normalised iteration maps
    np.testing.assert_allclose(res.saliency[0], its[0].saliency + its[1].saliency, rtol=1e-12)
    assert float(its[0].saliency.max()) == 1.0 and float(its[0].saliency.min()) == 0.0


def test_stop_criterion_is_sqrt_mean_over_score_on_the_dimmed_image():
    x = np.ones((1, 32, 32))
    res = glas_core.explain_recursive(two_objects, x, grid=16, sigma=1.0, t2=50.0, max_iter=1)
    it = res.iterations[0][0]
    dimmed = x * (1.0 - it.saliency)[None]
    p_after = float(two_objects(dimmed[None])[0, 0])
    assert it.score_after == pytest.approx(p_after, rel=1e-12)
    assert it.criterion == pytest.approx(np.sqrt(it.saliency.mean() / p_after), rel=1e-12)
    # 2P+1 rows of the sweep plus one score of the dimmed image
    assert res.n_forward == 2 * 256 + 1 + 1


def test_paper_stop_condition_t2():
    x = np.ones((1, 32, 32))
    res = glas_core.explain_recursive(two_objects, x, grid=16, sigma=1.0, t2=1e-3)
    assert res.stop_reasons == ["t2"] and len(res.iterations[0]) == 1


def test_stops_when_no_points_remain():
    x = np.ones((1, 32, 32))
    pts = np.array([[7.0, 7.0], [8.0, 8.0], [7.0, 8.0]])  # all on object A: every one exceeds t1
    res = glas_core.explain_recursive(two_objects, x, points=pts, sigma_px=(2.0, 2.0, 2.0), t1=0.05, t2=50.0)
    assert res.stop_reasons == ["no_points"] and len(res.iterations[0]) == 1
    assert len(res.iterations[0][0].removed_points) == 3


def test_multi_target_recursion_runs_each_target_on_its_own_image():
    x = np.ones((1, 32, 32))

    def two_targets(batch):
        col = two_objects(batch)
        xp = array_api_compat.array_namespace(batch)
        sub = batch[:, :, 22:26, 20:24]
        return xp.concat([col, xp.reshape(xp.mean(xp.reshape(sub, (sub.shape[0], -1)), axis=1), (-1, 1))], axis=1)

    res = glas_core.explain_recursive(two_targets, x, grid=16, sigma=1.0, t2=50.0, max_iter=2)
    single = glas_core.explain_recursive(two_objects, x, grid=16, sigma=1.0, t2=50.0, max_iter=2)
    np.testing.assert_allclose(res.saliency[0], single.saliency[0], rtol=1e-9)
    assert _near(np.unravel_index(np.argmax(res.iterations[1][0].saliency), (32, 32)), (23.5, 21.5))


def _four_class_model(region):
    """Four classes; class 0's logit reads one bright patch. Dimmed, the model falls to chance (0.25),
    never to the ~0.01 the paper's t2 rule needs."""
    def score(batch):
        inside = batch[(slice(None), 0) + region].mean(axis=(1, 2))
        z = np.stack([8.0 * inside, np.ones_like(inside), np.ones_like(inside), np.ones_like(inside)], axis=1)
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return (e / e.sum(axis=1, keepdims=True))[:, :1]
    return score


def test_evidence_stop_ends_where_nothing_is_left_and_weighs_iterations():
    x = np.full((1, 24, 24), 0.2)
    x[0, 4:9, 4:9] = 1.0
    score = _four_class_model((slice(4, 9), slice(4, 9)))
    paper = glas_core.explain_recursive(score, x, grid=6, sigma=1.0)
    assert paper.stop_reasons == ["max_iter"] and len(paper.iterations[0]) == 5  # t2 never fires
    ev = glas_core.explain_recursive(score, x, grid=6, sigma=1.0, stop="evidence", min_evidence=0.1)
    its = ev.iterations[0]
    assert ev.stop_reasons == ["no_evidence"] and ev.n_forward < paper.n_forward
    first = glas_core.minmax_normalize(glas_core.explain(score, x, grid=6, sigma=1.0).saliency[0])
    # every iteration that counted adds weight * its normalised map; the first has weight 1
    assert its[0].weight == 1.0 and all(0.1 <= i.weight <= 1.0 for i in its[1:])
    np.testing.assert_allclose(ev.to_numpy()[0], sum(i.weight * i.saliency for i in its), rtol=1e-12)
    np.testing.assert_allclose(its[0].saliency, first, rtol=1e-12)
    # the patch stays the peak of the accumulated map; the paper's map adds background at full weight
    patch = {(r, c) for r in range(3, 10) for c in range(3, 10)}
    assert np.unravel_index(np.argmax(ev.to_numpy()[0]), (24, 24)) in patch
    bg = (slice(14, 24), slice(14, 24))
    ev_map, paper_map = ev.to_numpy()[0], paper.to_numpy()[0]
    assert ev_map[bg].mean() / ev_map.max() < paper_map[bg].mean() / paper_map.max()


def test_evidence_stop_arguments_are_checked():
    x = np.random.default_rng(0).random((1, 8, 8))
    with pytest.raises(glas_core.GLASError, match="stop must be 'paper' or 'evidence', got 'never'"):
        glas_core.explain_recursive(lambda b: b.mean(axis=(1, 2, 3))[:, None], x, grid=2, stop="never")
    with pytest.raises(glas_core.GLASError, match=r"min_evidence must be a number in \[0, 1\), got 1.5"):
        glas_core.explain_recursive(lambda b: b.mean(axis=(1, 2, 3))[:, None], x, grid=2, stop="evidence",
                                    min_evidence=1.5)
