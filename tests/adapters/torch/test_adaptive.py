"""Adaptive coarse-to-fine search through the torch adapter.

References: the core's adaptive search scored on the paper's probabilities
(``softmax_columns``), and the exhaustive multi-scale maps, which the adaptive search must give
exactly when every point is kept.
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

import glas_core  # noqa: E402
from glas_adapters import torch as glas_torch  # noqa: E402
from glas_adapters.testing.torch_models import CallLog, TinyCNN, images  # noqa: E402
from tests.adapters.torch.reference import assert_paper_scale, softmax_columns  # noqa: E402

SIGMAS = [3.0, 1.5, 0.75]
GRID = 6


@pytest.fixture(scope="module")
def model():
    return TinyCNN().eval()


def test_adaptive_maps_are_the_core_search_on_probabilities(model):
    x = images(n=1)[0]
    log = CallLog(model)
    got = glas_torch.explain_multiscale(log, x, 2, sigmas=SIGMAS, grid=GRID, adaptive=True, keep=0.6,
                                        return_result=True)
    with torch.no_grad():
        want = glas_core.explain_multiscale(softmax_columns(model, [2]), x, SIGMAS, grid=GRID, adaptive=True,
                                            keep=0.6)
    full = 2 * GRID * GRID
    assert got[0].n_forward == full + 1  # the coarsest scale: every point, and the clean row once
    assert all(r.n_forward < full for r in got[1:])  # finer scales: fewer points, no clean row
    assert sum(log.rows) == sum(r.n_forward for r in got)
    for g, w in zip(got, want, strict=True):
        assert g.n_forward == w.n_forward
        assert_paper_scale(g, w)


def test_keeping_every_point_gives_the_exhaustive_maps(model):
    x = images(n=2)
    adaptive = glas_torch.explain_multiscale(model, x, [1, 4], sigmas=SIGMAS, grid=GRID, adaptive=True, keep=1e-9,
                                             return_result=True)
    exhaustive = glas_torch.explain_multiscale(model, x, [1, 4], sigmas=SIGMAS, grid=GRID, return_result=True)
    for per_a, per_e in zip(adaptive, exhaustive, strict=True):
        for a, e in zip(per_a, per_e, strict=True):
            torch.testing.assert_close(a.saliency, e.saliency, rtol=1e-5, atol=1e-7)
        assert sum(r.n_forward for r in per_a) == sum(r.n_forward for r in per_e) - (len(SIGMAS) - 1)


def test_adaptive_refuses_a_bad_keep(model):
    with pytest.raises(glas_core.GLASError, match="keep"):
        glas_torch.explain_multiscale(model, images(n=1)[0], 1, sigmas=SIGMAS, grid=GRID, adaptive=True, keep=0,
                                      return_result=True)
