"""``stop=`` and ``min_evidence=`` of the torch adapter's explain_recursive reach the core.

The reference is :func:`glas_core.explain_recursive` on a plain NumPy log-softmax of the same
hand-built linear model (tests/adapters/two_blobs.py).
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import glas_core  # noqa: E402
from glas_adapters import torch as glas_torch  # noqa: E402
from tests.adapters import two_blobs  # noqa: E402


@pytest.fixture(scope="module")
def model():
    w, b = two_blobs.weights_chw()
    lin = torch.nn.Linear(w.shape[0], 2)
    with torch.no_grad():
        lin.weight.copy_(torch.from_numpy(w.T))
        lin.bias.copy_(torch.from_numpy(b))
    return torch.nn.Sequential(torch.nn.Flatten(), lin).eval()


def reference(**kwargs):
    w, b = two_blobs.weights_chw()
    return glas_core.explain_recursive(two_blobs.log_softmax_fn(w, b, 0), two_blobs.image_chw(), grid=4,
                                       log_scores=True, **kwargs)


def test_evidence_rule_gives_the_cores_iterations(model):
    x = torch.from_numpy(two_blobs.image_chw())
    got = glas_torch.explain_recursive(model, x, 0, grid=4, stop="evidence", min_evidence=0.1, return_result=True)
    want = reference(stop="evidence", min_evidence=0.1)
    two_blobs.assert_same_iterations(got, want)
    weights = [it.weight for it in got.iterations[0]]
    # the rule mattered: the paper's rule would give weight 1 throughout and run to max_iter
    assert got.stop_reasons == ["no_evidence"] and len(weights) == 2 and 0.1 < weights[1] < 0.9
    paper = glas_torch.explain_recursive(model, x, 0, grid=4, return_result=True)
    assert paper.stop_reasons == ["max_iter"] and all(it.weight == 1.0 for it in paper.iterations[0])
    accumulated = sum(w * glas_core.to_numpy(it.saliency) for w, it in zip(weights, got.iterations[0]))
    np.testing.assert_allclose(got.to_numpy()[0], accumulated, rtol=1e-5, atol=1e-6)


def test_min_evidence_is_passed_on(model):
    x = torch.from_numpy(two_blobs.image_chw())
    got = glas_torch.explain_recursive(model, x[None], 0, grid=4, stop="evidence", min_evidence=0.8, return_result=True)
    assert len(got) == 1 and len(got[0].iterations[0]) == 1  # the second iteration's ~0.6 is below 0.8
    two_blobs.assert_same_iterations(got[0], reference(stop="evidence", min_evidence=0.8))


@pytest.mark.parametrize("bad", [dict(stop="Evidence"), dict(stop=None), dict(min_evidence=1.0),
                                 dict(min_evidence=-0.1), dict(min_evidence="0.1")])
def test_bad_stop_settings_are_refused(model, bad):
    name = next(iter(bad))
    with pytest.raises(glas_core.GLASError, match=name):
        glas_torch.explain_recursive(model, torch.from_numpy(two_blobs.image_chw()), 0, grid=4, **bad,
                                     return_result=True)


def test_reuse_tol_reaches_the_core(model):
    x = torch.from_numpy(two_blobs.image_chw())
    got = glas_torch.explain_recursive(model, x, 0, grid=6, sigma=1.0, max_iter=3, reuse_tol=0.05, return_result=True)
    want = glas_core.explain_recursive(two_blobs.log_softmax_fn(*two_blobs.weights_chw(), 0), two_blobs.image_chw(),
                                       grid=6, sigma=1.0, max_iter=3, log_scores=True, reuse_tol=0.05)
    two_blobs.assert_same_iterations(got, want)
    full = glas_torch.explain_recursive(model, x, 0, grid=6, sigma=1.0, max_iter=3, return_result=True)
    assert got.n_forward < full.n_forward  # light rows were kept
    with pytest.raises(glas_core.GLASError, match="reuse_tol"):
        glas_torch.explain_recursive(model, x, 0, grid=4, reuse_tol=1.5, return_result=True)
