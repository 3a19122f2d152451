"""Every GLASError message: it names the argument, what was received, what was expected, and the fix."""

from __future__ import annotations

import numpy as np
import pytest

import glas_core
from glas_core import GLASError

X = np.random.default_rng(0).random((3, 16, 16))


def ok_score(batch):
    return np.full((batch.shape[0], 2), 0.5)


def explain(**kw):
    args = dict(score_fn=ok_score, x=X)
    args.update(kw)
    return glas_core.explain(args.pop("score_fn"), args.pop("x"), **args)


CASES = [
    # (kwargs, fragments the message must contain)
    (dict(score_fn=42), ["score_fn must be a callable", "got int"]),
    (dict(progress="yes"), ["progress must be None or a callable", "got str"]),
    (dict(x=[[1.0, 2.0]]), ["x must be an array", "got list", "numpy.asarray"]),
    (dict(x=np.ones((3, 16, 16), dtype=np.uint8)), ["x must be a real floating array", "uint8", "/ 255"]),
    (dict(x=np.where(np.eye(16, dtype=bool)[None], np.nan, X)), ["x must be finite values", "NaN", "clean the input"]),
    (dict(spatial_axes="hw"), ["spatial_axes must be a tuple of 1, 2 or 3 ints", "spatial_axes=(-2, -1)",
                               "(-1,) for (C, T) series"]),
    (dict(spatial_axes=(0, 1, 2, 3)), ["spatial_axes must be 1 axis (signals), 2 axes (images) or 3 axes "
                                       "(volumes, videos)", "(0, 1, 2, 3)"]),
    (dict(spatial_axes=(1, 3)), ["spatial_axes must be axes of an input with 3 dimensions", "(1, 3)"]),
    (dict(spatial_axes=(1, -2)), ["spatial_axes must be distinct axes"]),
    (dict(grid=0), ["grid must be a positive int or a tuple of 2 positive ints", "got 0", "grid=15"]),
    (dict(grid=(4, 4, 4)), ["grid must be a positive int or a tuple of 2 positive ints", "(4, 4, 4)"]),
    (dict(grid=2.5), ["grid must be a positive int", "got 2.5"]),
    (dict(grid=17), ["grid must be at most the input's size (16, 16)", "got 17", "fewer search points"]),
    (dict(grid=4, points=[[1.0, 1.0]], sigma_px=2.0), ["grid must be None when custom points are given",
                                                       "either grid= "]),
    (dict(mode="both"), ["mode must be one of 'fusion', 'light', 'shadow'", "'both'"]),
    (dict(lam=-1.0), ["lam must be a finite number >= 0", "-1.0", "lam=1e-5"]),
    (dict(lam=float("nan")), ["lam must be a finite number >= 0", "nan"]),
    (dict(batch_size=0), ["batch_size must be a positive int", "got 0", "batch_size=64"]),
    (dict(batch_size=True), ["batch_size must be a positive int", "got True"]),
    (dict(points=[[1.0, 1.0]]), ["sigma_px must be given (in pixels) when custom points are used",
                                 "sigma in grid cells has no meaning"]),
    (dict(sigma=0), ["sigma must be a positive finite number", "got 0"]),
    (dict(sigma=(5, -3, 6)), ["sigma must be a positive finite number", "got -3"]),
    (dict(sigma=(5, 3)), ["sigma must be a positive number or a (light, shadow, spatial) triple", "(5, 3)"]),
    (dict(sigma=(5, (1, 2, 3), 6)), ["sigma must be a positive number or a tuple of 2 per-axis positive numbers, "
                                     "one per spatial axis", "the per-axis entry (1, 2, 3) for an input with 2"]),
    (dict(sigma_px=(5, (1, 2, 3), 6)), ["sigma_px must be a positive number or a tuple of 2 per-axis positive",
                                        "(1, 2, 3)"]),
    (dict(sigma_px=float("inf")), ["sigma_px must be a positive finite number", "inf"]),
    (dict(points=np.ones((3, 3)), sigma_px=2.0), ["points must be shape (n_points >= 1, 2)", "(3, 3)"]),
    (dict(points=np.zeros((0, 2)), sigma_px=2.0), ["points must be shape (n_points >= 1, 2)", "(0, 2)"]),
    (dict(points=[[1.0, np.nan]], sigma_px=2.0), ["points must be finite pixel coordinates", "non-finite"]),
    (dict(points=[[1.0, 1.0], [3.0, 40.0]], sigma_px=2.0), ["points must be pixel coordinates within [0, n - 1]",
                                                            "1 point(s) outside the image, first [3.0, 40.0]"]),
    (dict(points="abc", sigma_px=2.0), ["points must be"]),
    (dict(baseline=np.zeros((2, 16, 16))), ["baseline must be a finite number or an array broadcastable to (3, 16, 16)",
                                            "(2, 16, 16)"]),
    (dict(baseline=float("nan")), ["baseline must be a finite number or array", "nan"]),
    (dict(score_fn=lambda b: [0.5] * b.shape[0]), ["score_fn output must be an array of shape", "got list"]),
    (dict(score_fn=lambda b: np.full((b.shape[0], 2, 1), 0.5)), ["score_fn output must be shape (64, T)",
                                                                 "got shape (64, 2, 1)", "do not squeeze"]),
    (dict(score_fn=lambda b: np.full((1, 2), 0.5)), ["score_fn output must be shape (64, T)", "got shape (1, 2)"]),
    (dict(score_fn=lambda b: np.full((b.shape[0], 3 if b.shape[0] == 64 else 2), 0.5)),
     ["score_fn output must be the same number of targets (3) for every chunk", "2 targets in a later chunk"]),
    (dict(score_fn=lambda b: np.where(np.arange(b.shape[0])[:, None] == 5, np.nan, 0.5) * np.ones((1, 2))),
     ["score_fn output must be finite probabilities", "non-finite value at row 5, target 0", "NaN/inf"]),
    (dict(score_fn=lambda b: np.full((b.shape[0], 2), 3.0)), ["score_fn output must be probabilities in [0, 1]",
                                                              "values in [3, 3]", "softmax or sigmoid"]),
]


@pytest.mark.parametrize("kwargs,fragments", CASES, ids=[", ".join(c[0]) + f"#{i}" for i, c in enumerate(CASES)])
def test_explain_error_messages(kwargs, fragments):
    with pytest.raises(GLASError) as err:
        explain(**kwargs)
    msg = str(err.value)
    for fragment in fragments:
        assert fragment in msg, (fragment, msg)
    assert "; " in msg  # every message ends with how to fix it
    assert isinstance(err.value, ValueError)


@pytest.mark.parametrize("kwargs,fragment", [
    (dict(t1=1.5), "t1 must be a number in (0, 1), got 1.5; use t1=0.8"),
    (dict(t2=0), "t2 must be a positive finite number, got 0; use t2=5"),
    (dict(max_iter=0), "max_iter must be a positive int, got 0; use max_iter=5"),
])
def test_recursive_error_messages(kwargs, fragment):
    with pytest.raises(GLASError, match=None) as err:
        glas_core.explain_recursive(ok_score, X, **kwargs)
    assert fragment in str(err.value)


def test_recursive_validates_the_score_of_the_dimmed_image():
    calls = []

    def bad_after_sweep(batch):
        calls.append(batch.shape[0])
        return np.full((batch.shape[0], 1), 0.5 if len(calls) <= 9 else np.nan)

    with pytest.raises(GLASError, match="score_fn output must be finite probabilities"):
        glas_core.explain_recursive(bad_after_sweep, X, grid=4, batch_size=4)


@pytest.mark.parametrize("kwargs,fragment", [
    (dict(sigmas=[]), "sigmas must be a non-empty list of scales"),
    (dict(sigmas=[3.0], sigma=2.0), "sigma must be given through `sigmas` only"),
    (dict(sigmas=[0.0]), "sigma must be a positive finite number, got 0.0"),
])
def test_multiscale_error_messages(kwargs, fragment):
    with pytest.raises(GLASError) as err:
        glas_core.explain_multiscale(ok_score, X, **kwargs)
    assert fragment in str(err.value)


def test_score_grid_errors():
    res = glas_core.explain(ok_score, X, grid=4, mode="light")
    assert res.score_grid("light").shape == (2, 4, 4)
    with pytest.raises(GLASError, match="rerun with mode='fusion'"):
        res.score_grid("shadow")
    with pytest.raises(GLASError, match="which must be 'light' or 'shadow'"):
        res.score_grid("dark")
    pts = glas_core.explain(ok_score, X, points=[[2.0, 2.0]], sigma_px=2.0)
    with pytest.raises(GLASError, match="read light_scores/shadow_scores directly"):
        pts.score_grid("light")
