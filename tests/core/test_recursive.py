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


def test_the_dimmed_image_is_scored_once_and_its_score_is_the_next_sweeps_clean_row():
    """The stop rule scores the dimmed image; the next sweep's clean row is that image: its score is reused
    (one pass per later iteration saved) and the maps are those of a sweep that scores it again."""
    x = np.ones((1, 32, 32))
    calls = []

    def counted(batch):
        calls.append(len(batch))
        return two_objects(batch)

    res = glas_core.explain_recursive(counted, x, grid=16, sigma=1.0, t2=50.0, max_iter=3)
    its = res.iterations[0]
    assert len(its) == 3 and res.n_forward == sum(calls)
    # the first sweep (2P + 1), then per iteration the dimmed image (1) and, after the first, 2P' rows
    assert res.n_forward == (2 * 256 + 1) + 1 + 2 * its[1].n_points + 1 + 2 * its[2].n_points + 1
    image, points = x, glas_core.explain(two_objects, x, grid=16, sigma=1.0).points
    sigma_px = glas_core.explain(two_objects, x, grid=16, sigma=1.0).sigma_px
    for a, b in zip(its[:-1], its[1:]):
        image = image * (1.0 - a.saliency)[None]
        kept = [p for p in points.tolist() if p not in a.removed_points.tolist()]
        points = np.array(kept)
        again = glas_core.explain(two_objects, image, points=points, sigma_px=sigma_px)  # with its clean row
        assert again.n_forward == 2 * len(points) + 1
        np.testing.assert_array_equal(glas_core.minmax_normalize(again.saliency[0]), b.saliency)


def test_dim_above_t1_dims_only_where_the_map_exceeds_t1():
    x = np.ones((1, 32, 32))
    res = glas_core.explain_recursive(two_objects, x, grid=16, sigma=1.0, t2=50.0, max_iter=2, dim="above_t1")
    its = res.iterations[0]
    s = its[0].saliency
    shade = np.where(s > 0.8, s, 0.0)
    assert 0 < (shade > 0).sum() < 0.1 * s.size  # only the peak of object A
    dimmed = x * (1.0 - shade)[None]
    assert its[0].score_after == pytest.approx(float(two_objects(dimmed[None])[0, 0]), rel=1e-12)
    # object B is left as it was: the second iteration finds it
    assert np.all(dimmed[0][B] == 1.0)
    assert _near(np.unravel_index(np.argmax(its[1].saliency), (32, 32)), (23.5, 21.5))
    paper = glas_core.explain_recursive(two_objects, x, grid=16, sigma=1.0, t2=50.0, max_iter=1)
    np.testing.assert_array_equal(paper.iterations[0][0].saliency, s)  # the first sweep is the same
    assert paper.iterations[0][0].score_after < its[0].score_after  # the whole map dims more


def test_the_separating_setting_is_keywords_of_explain_recursive():
    from glas_core.recursive import SEPARATE_INSTANCES

    assert dict(SEPARATE_INSTANCES) == dict(sigma=1.0, dim="above_t1", stop="evidence", min_evidence=0.5,
                                            max_iter=2)
    x = np.ones((1, 32, 32))
    res = glas_core.explain_recursive(two_objects, x, grid=16, **SEPARATE_INSTANCES)
    assert 1 <= len(res.iterations[0]) <= 2
    with pytest.raises(TypeError):
        SEPARATE_INSTANCES["max_iter"] = 5  # read-only: copy it to change a value


def test_dim_is_checked():
    x = np.ones((1, 8, 8))
    with pytest.raises(glas_core.GLASError, match="dim must be 'map' or 'above_t1', got 'region'"):
        glas_core.explain_recursive(two_objects, x, grid=2, dim="region")
