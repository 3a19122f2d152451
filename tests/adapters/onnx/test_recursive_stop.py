"""``stop=`` and ``min_evidence=`` of the ONNX adapter's explain_recursive reach the core.

The model is the hand-built linear classifier of tests/adapters/two_blobs.py as an ONNX graph;
the reference is :func:`glas_core.explain_recursive` on a plain NumPy log-softmax of it.
"""

from __future__ import annotations

import numpy as np
import pytest

import glas_core
from glas_adapters import onnx as glas_onnx
from tests.adapters import two_blobs
from tests.adapters.onnx import graphs


@pytest.fixture
def path(tmp_path):
    return graphs.linear(str(tmp_path / "blobs.onnx"), ["n", 3, two_blobs.SIZE, two_blobs.SIZE],
                         *two_blobs.weights_chw())


def test_evidence_rule_gives_the_cores_iterations(path, options):
    x = two_blobs.image_chw()
    got = glas_onnx.explain_recursive(path, x, 0, grid=4, stop="evidence", min_evidence=0.1,
                                      session_options=options, return_result=True)
    want = glas_core.explain_recursive(two_blobs.log_softmax_fn(*two_blobs.weights_chw(), 0), x, grid=4,
                                       log_scores=True, stop="evidence", min_evidence=0.1)
    two_blobs.assert_same_iterations(got, want)
    assert got.stop_reasons == ["no_evidence"] and 0.1 < got.iterations[0][1].weight < 0.9
    maps = glas_onnx.explain_recursive(path, x, 0, grid=4, stop="evidence", min_evidence=0.1, session_options=options)
    np.testing.assert_allclose(maps, want.to_numpy()[0], rtol=1e-4, atol=1e-4 * np.abs(maps).max())
    short = glas_onnx.explain_recursive(path, x, 0, grid=4, stop="evidence", min_evidence=0.8,
                                        session_options=options, return_result=True)
    assert len(short.iterations[0]) == 1 and short.stop_reasons == ["no_evidence"]


@pytest.mark.parametrize("bad", [dict(stop="Evidence"), dict(min_evidence=1.0), dict(min_evidence=-0.1)])
def test_bad_stop_settings_are_refused(path, options, bad):
    with pytest.raises(glas_core.GLASError, match=next(iter(bad))):
        glas_onnx.explain_recursive(path, two_blobs.image_chw(), 0, grid=4, session_options=options, **bad)


def test_reuse_tol_reaches_the_core(path, options):
    x = two_blobs.image_chw()
    got = glas_onnx.explain_recursive(path, x, 0, grid=6, sigma=1.0, max_iter=3, reuse_tol=0.05,
                                      session_options=options, return_result=True)
    want = glas_core.explain_recursive(two_blobs.log_softmax_fn(*two_blobs.weights_chw(), 0), x, grid=6, sigma=1.0,
                                       max_iter=3, log_scores=True, reuse_tol=0.05)
    two_blobs.assert_same_iterations(got, want)
    full = glas_onnx.explain_recursive(path, x, 0, grid=6, sigma=1.0, max_iter=3, session_options=options,
                                       return_result=True)
    assert got.n_forward < full.n_forward  # light rows were kept
