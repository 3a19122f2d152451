"""``stop=`` and ``min_evidence=`` of the Keras adapter's explain_recursive reach the core.

The model is the hand-built linear classifier of tests/adapters/two_blobs.py as a Keras
Flatten -> Dense model on channels-last images; the reference is
:func:`glas_core.explain_recursive` on a plain NumPy log-softmax of the same weights.
"""

from __future__ import annotations

import numpy as np
import pytest

import glas_core
from glas_adapters import tf as glas_tf
from tests.adapters import two_blobs

keras = pytest.importorskip("keras")


@pytest.fixture(scope="module")
def model():
    size = two_blobs.SIZE
    m = keras.Sequential([keras.Input((size, size, 3)), keras.layers.Flatten(), keras.layers.Dense(2)])
    m.set_weights(list(two_blobs.weights_hwc()))
    return m


def image_hwc() -> np.ndarray:
    return two_blobs.image_chw().transpose(1, 2, 0).copy()


def test_evidence_rule_gives_the_cores_iterations(model):
    got = glas_tf.explain_recursive(model, image_hwc(), 0, grid=4, stop="evidence", min_evidence=0.1,
                                    return_result=True)
    want = glas_core.explain_recursive(two_blobs.log_softmax_fn(*two_blobs.weights_hwc(), 0), image_hwc(),
                                       spatial_axes=(0, 1), grid=4, log_scores=True, stop="evidence",
                                       min_evidence=0.1)
    two_blobs.assert_same_iterations(got, want)
    assert got.stop_reasons == ["no_evidence"] and 0.1 < got.iterations[0][1].weight < 0.9
    short = glas_tf.explain_recursive(model, image_hwc(), 0, grid=4, stop="evidence", min_evidence=0.8,
                                      return_result=True)
    assert len(short.iterations[0]) == 1 and short.stop_reasons == ["no_evidence"]


@pytest.mark.parametrize("bad", [dict(stop="Evidence"), dict(min_evidence=1.0), dict(min_evidence=-0.1)])
def test_bad_stop_settings_are_refused(model, bad):
    with pytest.raises(glas_core.GLASError, match=next(iter(bad))):
        glas_tf.explain_recursive(model, image_hwc(), 0, grid=4, **bad)


def test_reuse_tol_reaches_the_core(model):
    got = glas_tf.explain_recursive(model, image_hwc(), 0, grid=6, sigma=1.0, max_iter=3, reuse_tol=0.05,
                                    return_result=True)
    want = glas_core.explain_recursive(two_blobs.log_softmax_fn(*two_blobs.weights_hwc(), 0), image_hwc(),
                                       spatial_axes=(0, 1), grid=6, sigma=1.0, max_iter=3, log_scores=True,
                                       reuse_tol=0.05)
    two_blobs.assert_same_iterations(got, want)
    full = glas_tf.explain_recursive(model, image_hwc(), 0, grid=6, sigma=1.0, max_iter=3, return_result=True)
    assert got.n_forward < full.n_forward  # light rows were kept
