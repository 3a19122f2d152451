"""Inputs that used to give a silently wrong map: each is now refused, or answered with a zero map
and a warning that names the cause."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import glas_core
from glas_core import GLASError

RNG = np.random.default_rng(0)


def _mean_of(region):
    def score(batch):
        return batch[(slice(None),) + region].reshape(len(batch), -1).mean(axis=1)[:, None]
    return score


def test_channels_last_image_with_the_default_axes_is_refused():
    hwc = RNG.random((32, 32, 3))
    with pytest.raises(GLASError, match=r"spatial_axes must be the axes that hold the image's pixels, got \(1, 2\) "
                                        r"for an input of shape \(32, 32, 3\), whose axis 2 of size 3 looks like "
                                        r"a colour axis; for channels-last \(H, W, C\) images pass "
                                        r"spatial_axes=\(0, 1\)"):
        glas_core.explain(_mean_of((0, slice(0, 4), slice(0, 4))), hwc, grid=3)
    # the same image with the right axes, and small genuine images, are fine
    glas_core.explain(lambda b: b[:, :4, :4, 0].mean(axis=(1, 2))[:, None], hwc, spatial_axes=(0, 1), grid=3)
    glas_core.explain(_mean_of((0, slice(0, 2), slice(0, 2))), RNG.random((3, 4, 4)), grid=2)


def test_small_channels_last_image_with_the_default_axes_is_refused():
    """(16, 16, 3) with grid=3 used to give a (T, 16, 3) map: the grid fits the colour axis."""
    hwc = RNG.random((16, 16, 3))
    score = _mean_of((slice(0, 4), slice(0, 4), 0))
    message = (r"spatial_axes must be the axes that hold the image's pixels, named explicitly when one of them is "
               r"this short, got the default \(-2, -1\), i.e. \(1, 2\), for an input of shape \(16, 16, 3\), "
               r"whose axis 2 of 3 pixel\(s\) beside a non-spatial axis of 16 looks like a colour axis; for "
               r"channels-last \(H, W, C\) images pass spatial_axes=\(0, 1\)")
    with pytest.raises(GLASError, match=message):
        glas_core.explain(score, hwc, grid=3)
    with pytest.raises(GLASError, match=message):
        glas_core.explain_recursive(score, hwc, grid=3)
    with pytest.raises(GLASError, match=message):
        glas_core.explain_batch(score, hwc[None], grid=3)
    assert glas_core.explain(score, hwc, spatial_axes=(0, 1), grid=3).to_numpy().shape == (1, 16, 16)
    # named explicitly, the same axes are taken as space: the caller said so
    thin = glas_core.explain(_mean_of((0, slice(0, 4), slice(0, 2))), hwc, spatial_axes=(-2, -1), grid=3)
    assert thin.to_numpy().shape == (1, 16, 3)
    # (C, H, W) images stay fine with the default however thin: their non-spatial axis is the short one
    glas_core.explain(_mean_of((0, slice(0, 2), slice(0, 2))), RNG.random((1, 4, 4)), grid=2)
    glas_core.explain(_mean_of((0, slice(0, 2), slice(0, 2))), RNG.random((3, 4, 16)), grid=2, sigma=1.0)
    glas_core.explain(_mean_of((0, slice(0, 2), slice(0, 2))), RNG.random((1, 2, 16)), grid=2, sigma=1.0)
    # a channels-last image at the edge of the rule: 12 = 4 x 3 pixels
    with pytest.raises(GLASError, match="named explicitly when one of them is this short"):
        glas_core.explain(score, RNG.random((12, 12, 3)), grid=3)


def test_a_model_that_ignores_its_input_gets_a_zero_map_and_a_warning():
    x = RNG.random((3, 16, 16))
    const = lambda b: np.tile([[0.7, 0.2]], (len(b), 1))  # noqa: E731
    with pytest.warns(RuntimeWarning, match=r"target\(s\) \[0, 1\] is the same for every perturbed input"):
        res = glas_core.explain(const, x, grid=4)
    assert res.to_numpy().shape == (2, 16, 16) and not res.to_numpy().any()
    # one column reads the image, the other does not: only the second is zeroed
    def half(b):
        return np.stack([b[:, 0, :8, :8].mean(axis=(1, 2)), np.full(len(b), 0.5)], axis=1)
    with pytest.warns(RuntimeWarning, match=r"target\(s\) \[1\]"):
        res = glas_core.explain(half, x, grid=4)
    assert res.to_numpy()[0].max() > 0 and not res.to_numpy()[1].any()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a model that reads its input raises no warning
        glas_core.explain(_mean_of((0, slice(0, 8), slice(0, 8))), x, grid=4)


@pytest.mark.parametrize("kwargs", [dict(sigma=1e-200), dict(sigma_px=(1e-3, 3, 3)), dict(sigma_px=(3, 3, 1e-9))])
def test_scales_whose_masks_miss_every_pixel_are_refused(kwargs):
    with pytest.raises(GLASError, match="Gaussians reach the pixels nearest the search points"):
        glas_core.explain(_mean_of((0, slice(0, 4), slice(0, 4))), RNG.random((1, 16, 16)), grid=4, **kwargs)


def test_a_narrow_mask_on_a_pixel_is_allowed():
    res = glas_core.explain(_mean_of((0, 2, 3)), RNG.random((1, 8, 8)), points=[[2.0, 3.0]], sigma_px=(0.05, 0.05, 2))
    assert res.to_numpy().max() > 0


def test_recursive_glas_stops_on_a_flat_map():
    x = RNG.random((1, 12, 12))
    calls = []

    def const(b):
        calls.append(len(b))
        return np.full((len(b), 1), 0.5)

    with pytest.warns(RuntimeWarning):
        res = glas_core.explain_recursive(const, x, grid=3, max_iter=5)
    assert res.stop_reasons == ["flat"] and len(res.iterations[0]) == 1
    assert res.n_forward == sum(calls) == 2 * 9 + 1 + 1


@pytest.mark.parametrize("kwargs, message", [
    (dict(grid="4"), "grid must be a positive int or a tuple of 2 positive ints, got '4'"),
    (dict(baseline="zeros"), "baseline must be a finite number or an array broadcastable to (1, 8, 8), got 'zeros'"),
    (dict(score_fn=lambda b: np.zeros((len(b), 0))), "score_fn output must be shape (9, T) with T >= 1: one row "
                                                     "per input of the batch, one column per target, got shape (9, 0)"),
])
def test_clear_errors_instead_of_tracebacks(kwargs, message):
    args = dict(score_fn=_mean_of((0, slice(0, 2), slice(0, 2))), x=RNG.random((1, 8, 8)), grid=2)
    args.update(kwargs)
    with pytest.raises(GLASError) as info:
        glas_core.explain(args.pop("score_fn"), args.pop("x"), **args)
    assert message in str(info.value)
