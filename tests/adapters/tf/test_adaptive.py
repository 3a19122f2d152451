"""Adaptive coarse-to-fine search through the Keras adapter, one and several classes per image.

References: the core's adaptive search scored on the paper's probabilities (a NumPy softmax of
the model's outputs), and the exhaustive multi-scale maps, which the adaptive search must give
when every point is kept.
"""

from __future__ import annotations

import numpy as np
import pytest

import glas_core
from glas_adapters import tf as glas_tf
from tests.adapters.tf.tiny_keras import images, np_softmax, tiny_cnn

SHAPE = (12, 12, 3)
SIGMAS = [3.0, 1.5, 0.75]
GRID = 6


@pytest.fixture(scope="module")
def model():
    return tiny_cnn(SHAPE, 4, seed=11)


def paper_maps(model, image, classes):
    def score_fn(batch):
        return np_softmax(model(np.asarray(batch, np.float32), training=False).numpy().astype(np.float64))[:, classes]

    return glas_core.explain_multiscale(score_fn, image, SIGMAS, spatial_axes=(0, 1), grid=GRID, adaptive=True,
                                        keep=0.6)


def test_adaptive_maps_are_the_core_search_on_probabilities_for_several_classes(model):
    x = images(2, SHAPE, seed=12)
    classes = [[1, 3], [0, 2]]
    got = glas_tf.explain_multiscale(model, x, classes, sigmas=SIGMAS, grid=GRID, adaptive=True, keep=0.6,
                                     return_result=True)
    maps = glas_tf.explain_multiscale(model, x, classes, sigmas=SIGMAS, grid=GRID, adaptive=True, keep=0.6)
    assert maps.shape == (2, len(SIGMAS), 2, 12, 12)  # (N, S, T, H, W)
    for i in range(2):
        want = paper_maps(model, x[i], classes[i])
        assert got[i][0].n_forward == 2 * GRID * GRID + 1
        assert all(r.n_forward < 2 * GRID * GRID for r in got[i][1:])
        for s, (g, w) in enumerate(zip(got[i], want, strict=True)):
            assert g.n_forward == w.n_forward
            restored = g.to_numpy().astype(np.float64) * np.exp(np.asarray(g.log_scale, np.float64))[:, None, None]
            expected = w.to_numpy()
            assert np.ptp(expected) > 1e-3 * np.abs(expected).max() > 0
            # float32 log-probabilities against float64 probabilities: Eq. 2's |P(y|I) - P(y|I*(1-G))|
            # cancels for a confident class (0.25 % of the peak here, the same in the exhaustive sweep);
            # a wrongly chosen point set would differ by whole points' weights
            for t in range(len(classes[i])):
                peak = np.abs(expected[t]).max()
                np.testing.assert_allclose(restored[t], expected[t], rtol=0, atol=5e-3 * peak)
            np.testing.assert_array_equal(maps[i, s], g.to_numpy())


def test_keeping_every_point_gives_the_exhaustive_maps(model):
    x = images(1, SHAPE, seed=13)[0]
    adaptive = glas_tf.explain_multiscale(model, x, 2, sigmas=SIGMAS, grid=GRID, adaptive=True, keep=1e-9)
    exhaustive = glas_tf.explain_multiscale(model, x, 2, sigmas=SIGMAS, grid=GRID)
    assert adaptive.shape == exhaustive.shape == (len(SIGMAS), 12, 12)
    np.testing.assert_allclose(adaptive, exhaustive, rtol=1e-5, atol=1e-6 * np.abs(exhaustive).max())


def test_tensorflow_images_get_the_numpy_maps_as_tensorflow_tensors(model):
    from tests.adapters.tf.tiny_keras import tf

    x = images(1, SHAPE, seed=14)
    want = glas_tf.explain_multiscale(model, x, [[0, 1]], sigmas=SIGMAS, grid=GRID, adaptive=True)
    got = glas_tf.explain_multiscale(model, tf.constant(x), [[0, 1]], sigmas=SIGMAS, grid=GRID, adaptive=True)
    assert isinstance(got, tf.Tensor) and tuple(got.shape) == (1, len(SIGMAS), 2, 12, 12)
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-4, atol=1e-6 * np.abs(want).max())
