"""Signals of any dimension: 1-D series and anisotropic 3-D (videos) against the loop reference, under
array-api-strict, through the recursive, adaptive and region variants, and the refusals."""

from __future__ import annotations

import numpy as np
import pytest

import glas_core
from glas_core import GLASError
from glas_core.adaptive import selected_points
from glas_core.metrics import deletion_curve, pointing_hit
from glas_core.recursive import SEPARATE_INSTANCES
from tests.core.reference import reference_glas, reference_grid_points
from tests.core.toy_models import logistic_model, region_model


def _model(shape, n_targets=2, seed=0):
    rng = np.random.default_rng(seed)
    w = rng.normal(scale=0.3, size=(int(np.prod(shape)), n_targets))
    return logistic_model(w, rng.normal(size=n_targets))


def _cells_to_px(sigma_cells, shape, grid):
    """Per kind, per axis: cells times the cell size n_a / k_a (the rule under test, written out)."""
    out = []
    for entry in sigma_cells:
        per_axis = entry if isinstance(entry, tuple) else (entry,) * len(shape)
        out.append(tuple(s * n / k for s, n, k in zip(per_axis, shape, grid)))
    return out


@pytest.mark.parametrize("mode", ["fusion", "light", "shadow"])
def test_series_grid_matches_reference(mode):
    x = np.random.default_rng(1).random((3, 40))
    score_fn, score_one = _model(x.shape)
    res = glas_core.explain(score_fn, x, spatial_axes=(-1,), grid=8, sigma=(1.5, 0.8, 2.0), mode=mode,
                            baseline=0.2, batch_size=5)
    sig = _cells_to_px((1.5, 0.8, 2.0), (40,), (8,))
    ref, clean, f_l, f_s = reference_glas(score_one, x, reference_grid_points((40,), (8,)), *sig, mode=mode,
                                          baseline=0.2)
    assert res.saliency.shape == (2, 40) and res.grid == (8,)
    np.testing.assert_allclose(res.saliency, ref, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(res.clean_scores, clean, rtol=1e-12)
    if mode != "shadow":
        np.testing.assert_allclose(res.light_scores, f_l, rtol=1e-10)
    if mode != "light":
        np.testing.assert_allclose(res.shadow_scores, f_s, rtol=1e-10)


def test_series_custom_points_and_channels_last_match_reference():
    x = np.random.default_rng(2).random((2, 30))
    score_fn, score_one = _model(x.shape, n_targets=3)
    points = np.array([[0.0], [7.5], [21.0], [29.0]])
    res = glas_core.explain(score_fn, x, spatial_axes=(1,), points=points, sigma_px=(3.0, 2.0, 4.0))
    ref, *_ = reference_glas(score_one, x, [tuple(p) for p in points], (3.0,), (2.0,), (4.0,))
    np.testing.assert_allclose(res.saliency, ref, rtol=1e-10, atol=1e-14)
    # the same series stored (T, C): the map does not change
    last = glas_core.explain(lambda b: score_fn(np.swapaxes(b, 1, 2)), x.T, spatial_axes=(0,), points=points,
                             sigma_px=(3.0, 2.0, 4.0))
    np.testing.assert_allclose(last.saliency, res.saliency, rtol=1e-12)


GRID_3D = (2, 5, 3)
SIGMA_3D = ((0.6, 1.5, 1.0), (0.5, 0.8, 1.2), (1.0, 2.0, 0.7))  # light, shadow, spatial; each per axis


def test_anisotropic_video_grid_matches_reference():
    """(C, T, H, W) with its own grid and sigma along time, height and width."""
    x = np.random.default_rng(3).random((2, 4, 10, 6))
    score_fn, score_one = _model(x.shape)
    res = glas_core.explain(score_fn, x, spatial_axes=(1, 2, 3), grid=GRID_3D, sigma=SIGMA_3D, batch_size=7)
    sig = _cells_to_px(SIGMA_3D, (4, 10, 6), GRID_3D)
    assert res.sigma_px == tuple(sig)
    ref, *_ = reference_glas(score_one, x, reference_grid_points((4, 10, 6), GRID_3D), *sig)
    np.testing.assert_allclose(res.saliency, ref, rtol=1e-10, atol=1e-14)


def test_mixed_scalar_and_per_axis_entries():
    x = np.random.default_rng(4).random((1, 6, 8, 4))
    score_fn, score_one = _model(x.shape)
    sigma = ((0.5, 1.0, 2.0), 1.5, (2.0, 1.0, 1.0))
    res = glas_core.explain(score_fn, x, spatial_axes=(-3, -2, -1), grid=(3, 4, 2), sigma=sigma)
    sig = _cells_to_px(sigma, (6, 8, 4), (3, 4, 2))
    ref, *_ = reference_glas(score_one, x, reference_grid_points((6, 8, 4), (3, 4, 2)), *sig)
    np.testing.assert_allclose(res.saliency, ref, rtol=1e-10, atol=1e-14)


STRICT_CASES = {
    "series grid": ((2, 24), (-1,), dict(grid=6, sigma=(1.0, 0.7, 1.5), baseline=0.1)),
    "series points": ((2, 24), (-1,), dict(points=np.array([[2.0], [11.0], [20.5]]), sigma_px=(3.0, 2.0, 4.0))),
    "video grid": ((2, 4, 6, 5), (1, 2, 3), dict(grid=GRID_3D, sigma=SIGMA_3D)),
}


@pytest.mark.parametrize("case", list(STRICT_CASES))
def test_array_api_strict_matches_numpy(case):
    xp = pytest.importorskip("array_api_strict")
    shape, axes, kw = STRICT_CASES[case]
    x = np.random.default_rng(5).random(shape)
    score_fn, _ = _model(shape)
    ref = glas_core.explain(score_fn, x, spatial_axes=axes, batch_size=4, **kw)
    for device in (xp.Device("CPU_DEVICE"), xp.Device("device1")):
        res = glas_core.explain(score_fn, xp.asarray(x, device=device), spatial_axes=axes, batch_size=4, **kw)
        assert res.saliency.device == device
        np.testing.assert_allclose(glas_core.to_numpy(res.saliency), ref.saliency, rtol=1e-12)


def test_array_api_strict_series_recursive_and_adaptive():
    xp = pytest.importorskip("array_api_strict")
    x = np.random.default_rng(6).random((1, 30))
    score_fn, _ = _model(x.shape)
    kw = dict(spatial_axes=(-1,), grid=10, sigma=1.0)
    rec_n = glas_core.explain_recursive(score_fn, x, max_iter=3, **kw)
    rec_s = glas_core.explain_recursive(score_fn, xp.asarray(x), max_iter=3, **kw)
    assert rec_n.saliency.shape == (2, 30) and rec_s.stop_reasons == rec_n.stop_reasons
    np.testing.assert_allclose(glas_core.to_numpy(rec_s.saliency), rec_n.saliency, rtol=1e-9)
    ad_n = glas_core.explain_multiscale(score_fn, x, [2.0, 1.0], adaptive=True, spatial_axes=(-1,), grid=10)
    ad_s = glas_core.explain_multiscale(score_fn, xp.asarray(x), [2.0, 1.0], adaptive=True, spatial_axes=(-1,),
                                        grid=10)
    for n, s in zip(ad_n, ad_s):
        np.testing.assert_allclose(glas_core.to_numpy(s.saliency), n.saliency, rtol=1e-12)


def test_adaptive_series_is_eq3_over_the_kept_points():
    """The finer scale sweeps only the kept points; its map is Eq. 3 with v = 0 elsewhere (loop reference)."""
    x = np.random.default_rng(7).random((1, 48))
    score_fn = region_model((slice(30, 36),))
    coarse, fine = glas_core.explain_multiscale(score_fn, x, [3.0, 1.0], adaptive=True, keep=0.85,
                                                spatial_axes=(-1,), grid=12)
    chosen = selected_points(coarse, 0.85)
    assert 0 < chosen.sum() < 12 and fine.n_forward == 2 * int(chosen.sum())

    def score_one(img):
        return np.asarray(score_fn(img[None]))[0]

    pts = reference_grid_points((48,), (12,))
    sig = (48 / 12,)
    ref, *_ = reference_glas(score_one, x, [p for p, c in zip(pts, chosen) if c], sig, sig, sig)
    np.testing.assert_allclose(fine.saliency, ref * chosen.sum() / 12, rtol=1e-10, atol=1e-14)
    assert 30 <= int(np.argmax(fine.to_numpy()[0])) < 36


def test_recursive_series_finds_both_motifs():
    """Two motifs each enough for the class: the second iteration finds the one the first did not."""
    x = np.zeros((1, 60))
    x[0, 8:14] = 1.0
    x[0, 44:50] = 1.0

    def score_fn(b):
        a, c = b[:, 0, 8:14].mean(axis=1), b[:, 0, 44:50].mean(axis=1)
        return (0.1 + 0.8 * np.maximum(a, 0.9 * c))[:, None]

    res = glas_core.explain_recursive(score_fn, x, spatial_axes=(-1,), grid=15, **SEPARATE_INSTANCES)
    first = res.iterations[0][0].saliency
    assert 8 <= int(np.argmax(first)) < 14
    assert len(res.iterations[0]) == 2
    second = res.iterations[0][1].saliency
    assert 44 <= int(np.argmax(second)) < 50


def test_series_regions_rank_the_segment_the_model_reads():
    labels = np.repeat(np.arange(1, 5), 10)  # four segments of 10 samples
    x = np.random.default_rng(8).random((2, 40)) + 0.5
    res = glas_core.explain_regions(region_model((slice(20, 30),)), x, labels, sigma_px=4.0, spatial_axes=(-1,))
    np.testing.assert_allclose(res.result.points[:, 0], [4.5, 14.5, 24.5, 34.5])
    assert res.impact.ranking()[0][0] == "3"


def test_metrics_on_series():
    s = np.zeros(20)
    s[12] = 1.0
    truth = np.zeros(20, dtype=bool)
    truth[10:15] = True
    assert pointing_hit(s, truth) and not pointing_hit(np.roll(s, 5), truth)
    x = np.ones((1, 20))

    def model(b):  # the probability is sample 12
        p = b[:, 0, 12]
        return np.stack([p, 1 - p], axis=1)

    _, y = deletion_curve(model, x, s, 0, step=1, spatial_axes=(-1,))
    assert y[:3] == pytest.approx([1, 0, 0])


REFUSALS = [
    # (x shape, kwargs, fragments)
    ((1, 10), dict(spatial_axes=(-1,), grid=15),
     ["grid must be at most the input's size (10,) along every spatial axis", "spatial axis 0 has 10 samples",
      "grid=10"]),
    ((1, 4, 30, 30), dict(spatial_axes=(1, 2, 3), grid=(8, 14, 14)),
     ["grid must be at most the input's size (4, 30, 30)", "spatial axis 0 has 4 samples", "grid=(4, 14, 14)"]),
    ((1, 100), dict(),
     ["grid must be at most the input's size (1, 100)", "for a (C, T) series pass spatial_axes=(-1,)"]),
    ((1, 4, 30, 30), dict(spatial_axes=(1, 2, 3), grid=4, sigma=((1, 0, 1), 3, 6)),
     ["sigma must be a positive finite number", "got 0", "above 0 along every axis"]),
    ((1, 4, 30, 30), dict(spatial_axes=(1, 2, 3), grid=4, sigma=(5, (1, -2, 3), 6)),
     ["sigma must be a positive finite number", "got -2"]),
    ((1, 4, 30, 30), dict(spatial_axes=(1, 2, 3), grid=4, sigma_px=(3, 3, (2, 0.0, 2))),
     ["sigma_px must be a positive finite number", "got 0.0"]),
    ((1, 4, 30, 30), dict(spatial_axes=(1, 2, 3), grid=4, sigma=((1, 2), 3, 6)),
     ["sigma must be a positive number or a tuple of 3 per-axis positive numbers, one per spatial axis",
      "the per-axis entry (1, 2) for an input with 3 spatial axis(es)", "in the order of spatial_axes"]),
    ((2, 50), dict(spatial_axes=(-1,), grid=5, sigma_px=(3, (1, 2), 3)),
     ["sigma_px must be a positive number or a tuple of 1 per-axis positive numbers", "entry (1, 2)"]),
    ((2, 50), dict(spatial_axes=(-1,), grid=(5, 5)), ["grid must be a positive int or a tuple of 1 positive ints"]),
    ((2, 50), dict(spatial_axes=(-1,), points=[[1.0, 2.0]], sigma_px=2.0), ["points must be shape (n_points >= 1, 1)"]),
    ((100, 3), dict(spatial_axes=(-1,), grid=3),
     ["spatial_axes must be the axis that holds the series' time steps", "axis 1 of size 3 looks like a channel axis",
      "for channels-last (T, C) series pass spatial_axes=(0,)"]),
]


@pytest.mark.parametrize("shape,kwargs,fragments", REFUSALS, ids=[str(i) for i in range(len(REFUSALS))])
def test_refusals(shape, kwargs, fragments):
    x = np.random.default_rng(9).random(shape)
    with pytest.raises(GLASError) as err:
        glas_core.explain(lambda b: np.full((b.shape[0], 1), 0.5), x, **kwargs)
    msg = str(err.value)
    assert "\n" not in msg
    for fragment in fragments:
        assert fragment in msg, (fragment, msg)


def test_refusals_at_construction():
    with pytest.raises(GLASError, match=r"sigma must be a positive finite number, got 0; every scale must be above 0"):
        glas_core.GLASConfig(sigma=((1, 0), 3, 6))
    with pytest.raises(GLASError, match=r"sigma must be a positive number or a \(light, shadow, spatial\) triple of "
                                        r"numbers or per-axis tuples"):
        glas_core.GLASConfig(sigma=((), 3, 6))
