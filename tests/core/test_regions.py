"""Region centroids, per-region impact, cohort aggregation, and their errors."""

from __future__ import annotations

import numpy as np
import pytest

import glas_core
from glas_core import CohortAccumulator, GLASError, explain_regions, regions_from_labels
from tests.core.reference import reference_glas
from tests.core.toy_models import logistic_model, region_model


def _labels():
    lab = np.zeros((4, 5, 6), dtype=int)
    lab[0:2, 0:2, 0:3] = 3      # 12 voxels, centroid (0.5, 0.5, 1)
    lab[3, 4, 5] = 7            # a single voxel at (3, 4, 5)
    lab[2:4, 0:5, 0] = 5        # 10 voxels, centroid (2.5, 2, 0)
    return lab


def test_centroids_sizes_and_names_by_hand():
    reg = regions_from_labels(_labels(), names={3: "hippocampus", 5: "amygdala"})
    assert reg.ids.tolist() == [3, 5, 7]
    assert reg.sizes.tolist() == [12, 10, 1]
    np.testing.assert_allclose(reg.centroids, [[0.5, 0.5, 1.0], [2.5, 2.0, 0.0], [3.0, 4.0, 5.0]])
    assert reg.names == ("hippocampus", "amygdala", "7")
    everything = regions_from_labels(_labels(), background=None)
    assert everything.ids.tolist() == [0, 3, 5, 7] and everything.sizes.sum() == 120


def test_region_impact_matches_reference_and_map_means():
    lab = _labels()
    x = np.random.default_rng(0).random((2, 4, 5, 6))
    rng = np.random.default_rng(1)
    score_fn, score_one = logistic_model(rng.normal(scale=0.3, size=(x.size, 2)), rng.normal(size=2))
    exp = explain_regions(score_fn, x, lab, sigma_px=(1.5, 1.0, 2.0), batch_size=4)
    pts = [(0.5, 0.5, 1.0), (2.5, 2.0, 0.0), (3.0, 4.0, 5.0)]
    ref, clean, f_l, f_s = reference_glas(score_one, x, pts, (1.5,) * 3, (1.0,) * 3, (2.0,) * 3)
    np.testing.assert_allclose(exp.result.saliency, ref, rtol=1e-10)
    np.testing.assert_allclose(exp.impact.point_score, f_l * f_s, rtol=1e-10)
    np.testing.assert_allclose(exp.impact.light, f_l, rtol=1e-10)
    # map mean inside region 5, by hand
    np.testing.assert_allclose(exp.impact.map_mean[1, 1], ref[1][lab == 5].mean(), rtol=1e-12)
    ranked = exp.impact.ranking(target=0, by="point_score")
    np.testing.assert_allclose([v for _, v in ranked], sorted((f_l * f_s)[0], reverse=True), rtol=1e-10)
    assert [n for n, _ in ranked] == [["3", "5", "7"][i] for i in np.argsort(-(f_l * f_s)[0])]


def test_the_region_the_model_reads_ranks_first():
    lab = np.zeros((12, 12, 12), dtype=int)
    lab[:6, :6, :] = 1
    lab[:6, 6:, :] = 2
    lab[6:, :6, :] = 3
    lab[6:, 6:, :] = 4
    x = np.ones((1, 12, 12, 12))
    exp = explain_regions(region_model((slice(7, 11), slice(7, 11), slice(3, 9))), x, lab, sigma_px=2.5)
    assert exp.impact.ranking(by="point_score")[0][0] == "4"
    assert exp.impact.ranking(by="map_mean")[0][0] == "4"


def test_cohort_accumulator_sums_then_normalises():
    acc = CohortAccumulator(n_spatial=2)
    a, b = np.zeros((3, 3)), np.zeros((3, 3))
    a[0, 0], b[0, 0], b[2, 2] = 2.0, 1.0, 6.0
    acc.add(a)
    acc.add(b[None])  # (T, *spatial) with target 0
    np.testing.assert_allclose(acc.map(), (a + b) / 6.0)
    assert acc.count == 2


def test_merged_accumulators_equal_one_accumulator_of_every_example():
    rng = np.random.default_rng(3)
    maps = [rng.random((4, 5)) for _ in range(5)]
    first, second = CohortAccumulator(n_spatial=2), CohortAccumulator(n_spatial=2)
    for m in maps[:2]:
        first.add(m)
    for m in maps[2:]:
        second.add(m)
    merged = first.merge(second).merge(CohortAccumulator(n_spatial=2))  # an empty share adds nothing
    total = np.sum(maps, axis=0)
    np.testing.assert_allclose(merged.map(), (total - total.min()) / (total.max() - total.min()), rtol=1e-12)
    assert merged.count == 5
    with pytest.raises(GLASError, match=r"other must be the cohort's map shape \(4, 5\), got maps of shape \(3, 3\)"):
        merged.merge(_one_map(np.ones((3, 3))))
    with pytest.raises(GLASError, match="other must be a CohortAccumulator"):
        merged.merge(np.ones((4, 5)))


def _one_map(m):
    acc = CohortAccumulator(n_spatial=2)
    acc.add(m)
    return acc


def test_merged_region_impacts_rank_like_one_accumulator():
    lab = _labels()
    x = np.ones((1, 4, 5, 6))
    regions = [(slice(0, 2), slice(0, 2), slice(0, 3)), (slice(0, 2), slice(0, 1), slice(0, 1))]
    explained = [explain_regions(region_model(r), x, lab, sigma_px=1.0) for r in regions]
    one, a, b = CohortAccumulator(), CohortAccumulator(), CohortAccumulator()
    for exp in explained:
        one.add(exp.result.saliency, exp.impact)
    a.add(explained[0].result.saliency, explained[0].impact)
    b.add(explained[1].result.saliency, explained[1].impact)
    merged = b.merge(a)
    for by in ("point_score", "map_mean"):
        assert [n for n, _ in merged.ranking(by)] == [n for n, _ in one.ranking(by)]
        np.testing.assert_allclose([v for _, v in merged.ranking(by)], [v for _, v in one.ranking(by)], rtol=1e-12)
    np.testing.assert_allclose(merged.map(), one.map(), rtol=1e-12)


def test_cohort_ranking_over_volumes():
    lab = _labels()
    x = np.ones((1, 4, 5, 6))
    acc = CohortAccumulator()
    for region in [(slice(0, 2), slice(0, 2), slice(0, 3)), (slice(0, 2), slice(0, 1), slice(0, 1))]:
        exp = explain_regions(region_model(region), x, lab, sigma_px=1.0)
        acc.add(exp.result.saliency, exp.impact)
    names = [n for n, _ in acc.ranking()]
    assert names[0] == "3" and acc.ranking()[0][1] == 1.0
    assert acc.map().max() == 1.0 and acc.map().min() == 0.0


@pytest.mark.parametrize("call,fragment", [
    (lambda: explain_regions(region_model((slice(0, 1),) * 3), np.ones((1, 4, 5, 6)), np.zeros((4, 5, 5), int),
                             sigma_px=1.0), "labels must be the spatial shape of x, (4, 5, 6), got shape (4, 5, 5)"),
    (lambda: regions_from_labels(np.zeros((4, 4, 4), dtype=int)), "labels must be at least one labelled region"),
    (lambda: regions_from_labels(np.zeros((4, 4), dtype=float)), "labels must be integer labels of a signal (1-D)"),
    (lambda: regions_from_labels(np.zeros((2, 2, 2, 2), dtype=int)), "labels must be integer labels of a signal"),
    (lambda: regions_from_labels(_labels(), names=["a"]), "names must be one name per region (3), got 1 names"),
    (lambda: explain_regions(region_model((slice(0, 1),) * 3), np.ones((1, 4, 5, 6)), _labels(), sigma_px=1.0,
                             sigma=3.0), "sigma must be left out: the search points are the region centroids"),
    (lambda: glas_core.explain(region_model((slice(0, 1),) * 3), np.ones((1, 4, 5, 6)), spatial_axes=(1, 2, 3),
                               points=[[1.0, 1.0, 1.0]], sigma=3.0),
     "sigma_px must be given (in pixels) when custom points are used"),
    (lambda: CohortAccumulator().map(), "cohort must be at least one added map"),
    (lambda: CohortAccumulator().ranking(), "cohort must be impacts added with add(saliency, impact)"),
])
def test_region_errors(call, fragment):
    with pytest.raises(GLASError) as err:
        call()
    assert fragment in str(err.value)


def test_cohort_refuses_maps_of_another_shape():
    acc = CohortAccumulator(n_spatial=2)
    acc.add(np.zeros((3, 3)))
    with pytest.raises(GLASError, match=r"saliency must be the cohort's map shape \(3, 3\), got shape \(4, 4\)"):
        acc.add(np.zeros((4, 4)))
