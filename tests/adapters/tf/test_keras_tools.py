"""GLASExplainer (tf-explain convention), GLAS (Xplique convention) and GLASCallback checks."""

from __future__ import annotations

import numpy as np
import pytest

from glas_adapters import tf as glas_tf
from glas_core import GLASError
from tests.adapters.tf.tiny_keras import images, tf, tiny_cnn

SHAPE = (10, 12, 3)


@pytest.fixture(scope="module")
def model():
    return tiny_cnn(SHAPE, 4, seed=21)


@pytest.fixture(scope="module")
def x():
    return images(3, SHAPE, seed=22)


def test_overlay_grid_layout_and_colours(model, x, tmp_path):
    explainer = glas_tf.GLASExplainer()
    grid = explainer.explain((x, None), model, 2, grid=3)
    assert grid.dtype == np.uint8 and grid.shape == (2 * 10, 2 * 12, 3)  # 3 tiles in a 2 x 2 grid
    assert not grid[10:, 12:].any()  # the 4th tile is black padding
    # image_weight=1: the tile is the min-max scaled image
    plain = explainer.explain((x, None), model, 2, grid=3, image_weight=1.0)
    scaled = (x[1] - x[1].min()) / (x[1].max() - x[1].min())
    np.testing.assert_array_equal(plain[:10, 12:24], np.round(255 * scaled).astype(np.uint8))
    # image_weight=0: jet colours; the map's peak is dark red (0.5, 0, 0), its minimum dark blue
    heat = explainer.explain((x, None), model, 2, grid=3, image_weight=0.0)
    maps = glas_tf.explain(model, x, 2, grid=3)
    peak = np.unravel_index(np.argmax(maps[0]), maps[0].shape)
    low = np.unravel_index(np.argmin(maps[0]), maps[0].shape)
    np.testing.assert_array_equal(heat[peak], [128, 0, 0])
    np.testing.assert_array_equal(heat[low], [0, 0, 128])
    path = explainer.save(grid, tmp_path / "out", "glas.png")
    np.testing.assert_array_equal(tf.io.decode_png(tf.io.read_file(path)).numpy(), grid)


def test_explainer_errors(model, x):
    with pytest.raises(GLASError, match="image_weight"):
        glas_tf.GLASExplainer().explain((x, None), model, 0, grid=3, image_weight=2.0)
    with pytest.raises(GLASError, match="uint8"):
        glas_tf.GLASExplainer.save(np.zeros((4, 4, 3), np.float32), "/tmp", "x.png")
    with pytest.raises(GLASError, match="validation_data"):
        glas_tf.GLASExplainer().explain((x, None, None), model, 0)


def test_xplique_style_explainer(model, x):
    expected = glas_tf.explain(model, x, [3, 1, 0], grid=3)
    explainer = glas_tf.GLAS(model, batch_size=16, grid=3)
    one_hot = np.eye(4, dtype=np.float32)[[3, 1, 0]]
    out = explainer(x, one_hot)
    assert out.shape == (3, 10, 12, 1) and out.dtype == np.float32
    np.testing.assert_allclose(out[..., 0], expected, rtol=1e-6)
    np.testing.assert_allclose(explainer.explain(tf.constant(x), np.array([3, 1, 0])), out, rtol=1e-6)
    with pytest.raises(GLASError, match="exactly one non-zero"):
        explainer(x, np.ones((3, 4), np.float32))
    with pytest.raises(GLASError, match="batch"):
        explainer(x[0], None)


def test_callback_validates_arguments():
    with pytest.raises(GLASError, match="every_n_epochs"):
        glas_tf.GLASCallback(np.zeros((1, *SHAPE)), 0, "logs", every_n_epochs=0)
