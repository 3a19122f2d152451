"""runtime="onnx" for Keras on TensorFlow: the model converted by tf2onnx, run by ONNX Runtime, Keras's maps."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from tests.adapters.tf.tiny_keras import images, tiny_cnn

pytest.importorskip("tf2onnx")
pytest.importorskip("onnxruntime")

from glas_adapters import tf as glas_tf  # noqa: E402
from glas_core import GLASError  # noqa: E402

SHAPE = (10, 12, 3)


def _peak_close(got, want, tol=1e-4):
    err = np.abs(np.asarray(got, np.float64) - want).max()
    assert err <= tol * np.abs(want).max(), (err, np.abs(want).max())


def test_onnx_runtime_gives_the_keras_maps():
    model = tiny_cnn(SHAPE, 4, seed=61)
    x = images(2, SHAPE, seed=62)
    want = glas_tf.explain(model, x, [[0, 3], [1, 2]], grid=4)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # no fallback
        got = glas_tf.explain(model, x, [[0, 3], [1, 2]], grid=4, runtime="onnx")
    assert got.shape == (2, 2, 10, 12)
    _peak_close(got, want)
    _peak_close(glas_tf.explain_recursive(model, x[0], [0, 3], grid=4, max_iter=2, runtime="onnx"),
                glas_tf.explain_recursive(model, x[0], [0, 3], grid=4, max_iter=2))


def test_changed_weights_are_converted_again():
    model = tiny_cnn(SHAPE, 4, seed=63)
    x = images(1, SHAPE, seed=64)
    glas_tf.explain(model, x, 1, grid=3, runtime="onnx")
    model.set_weights([-w for w in model.get_weights()])
    _peak_close(glas_tf.explain(model, x, 1, grid=3, runtime="onnx"), glas_tf.explain(model, x, 1, grid=3))


def test_float64_images_run_in_keras_with_one_warning():
    model = tiny_cnn(SHAPE, 4, seed=65)
    x = images(1, SHAPE, seed=66).astype(np.float64)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        got = glas_tf.explain(model, x, 1, grid=3, runtime="onnx")
    fallbacks = [w for w in seen if "runs this call in Keras instead" in str(w.message)]
    assert len(fallbacks) == 1 and "float64, not float32" in str(fallbacks[0].message)
    assert fallbacks[0].filename == __file__
    assert got.shape == (1, 10, 12)


def test_a_bad_runtime_is_refused():
    with pytest.raises(GLASError, match=r"runtime must be 'keras' or 'onnx', got 'torch'"):
        glas_tf.explain(tiny_cnn(SHAPE, 4, seed=67), images(1, SHAPE), 0, grid=3, runtime="torch")
