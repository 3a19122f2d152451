"""Every Keras tool on every Keras backend (TensorFlow, JAX, torch), with TensorFlow installed.

Keras fixes its backend when it is imported, so each backend runs in a child process
(``backend_child.py``, with ``KERAS_BACKEND`` set) on the same weights and images; this process
checks the numbers it wrote against the naive NumPy reference (``tests/core/reference.py``)
driven by this process' TensorFlow model. The child runs on one thread per framework.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys

import numpy as np
import pytest

import glas_adapters
import glas_core
from glas_adapters import tf as glas_tf
from tests.adapters.tf.tiny_keras import images, keras, np_softmax, reference_map, tf, tiny_cnn

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
CHILD = os.path.join(os.path.dirname(os.path.abspath(__file__)), "backend_child.py")
SHAPE, GRID, SIGMA = (8, 10, 3), (3, 4), (2.0, 1.0, 1.5)
PAIRS, SINGLES = [[2, 0], [1, 2], [0, 1]], [2, 1, 0]
ONE_THREAD = {"OMP_NUM_THREADS": "1", "XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1",
              "TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1"}


def _close(got, want, rtol=1e-4):
    """Agreement to ``rtol`` of the reference's peak (float32 models against a float64 reference)."""
    np.testing.assert_allclose(got, want, rtol=0, atol=rtol * np.abs(want).max())


def _run_child(backend: str, tmp_path) -> dict[str, np.ndarray]:
    # the child imports the glas this process tested (the installed one under tox) and the tests package
    package_root = os.path.dirname(os.path.dirname(os.path.abspath(glas_adapters.__file__)))
    env = dict(os.environ, KERAS_BACKEND=backend, **ONE_THREAD,
               PYTHONPATH=os.pathsep.join([package_root, ROOT, os.environ.get("PYTHONPATH", "")]))
    done = subprocess.run([sys.executable, CHILD, str(tmp_path), backend], env=env, capture_output=True, text=True,
                          timeout=400)
    assert done.returncode == 0, done.stderr[-4000:]
    return dict(np.load(tmp_path / "out.npz"))


def _train_mode_cnn(weights: list[np.ndarray]) -> keras.Model:
    """The child's BatchNorm and Dropout model, with its weights."""
    model = keras.Sequential([keras.Input(SHAPE), keras.layers.Conv2D(4, 3, padding="same"),
                              keras.layers.BatchNormalization(), keras.layers.Dropout(0.5), keras.layers.Flatten(),
                              keras.layers.Dense(3)])
    model.set_weights(weights)
    return model


def _summary_images(log_dir) -> list[np.ndarray]:
    """The PNG images under the tag "GLAS" in TensorBoard event files, decoded by TensorFlow."""
    found = []
    for name in sorted(os.listdir(log_dir)):
        for event in tf.compat.v1.train.summary_iterator(os.path.join(log_dir, name)):
            for value in event.summary.value:
                if value.tag == "GLAS":
                    png = tf.make_ndarray(value.tensor)[2]
                    found.append((event.step, tf.io.decode_png(png).numpy()))
    return [image for _, image in sorted(found, key=lambda s: s[0])]


@pytest.mark.parametrize("backend", ["tensorflow", "jax", "torch"])
def test_every_keras_tool_on_every_backend(backend, tmp_path):
    if importlib.util.find_spec(backend) is None:
        pytest.skip(f"Keras backend {backend} is not installed")
    model = tiny_cnn(SHAPE, 3, seed=11)
    x = images(3, SHAPE, seed=12)
    np.savez(tmp_path / "in.npz", x=x, grid=GRID, sigma=SIGMA, pairs=PAIRS, singles=SINGLES,
             **{f"w{i}": w for i, w in enumerate(model.get_weights())})
    out = _run_child(backend, tmp_path)

    for i in range(3):
        _close(out["pairs"][i], reference_map(model, x[i], PAIRS[i], GRID, SIGMA))
        want = reference_map(model, x[i], SINGLES[i], GRID, SIGMA)
        _close(out["plain_call"][i, 0], want)
        _close(out["plain_predict"][i, 0], want)
        _close(out["multiscale"][i, 0, 0], want)  # (image, scale, target, H, W)
        _close(out["multiscale"][i, 1, 0], reference_map(model, x[i], SINGLES[i], GRID, (1.0, 1.0, 1.0)))
        _close(out["adaptive"][i, 0], reference_map(model, x[i], PAIRS[i], GRID, SIGMA))
        _close(out["adaptive"][i, 1], reference_map(model, x[i], PAIRS[i], GRID, (1.0, 1.0, 1.0)))
    # the maps are the results' saliency: Eq. 3 over exp(log_scale), a positive factor per map
    ratio = out["pairs"] / out["pairs_maps"]
    assert np.all(ratio > 0)
    np.testing.assert_allclose(ratio, np.broadcast_to(ratio[:, :, :1, :1], ratio.shape), rtol=1e-5)
    # Xplique's layout: (N, H, W, 1) of the one-class maps
    np.testing.assert_allclose(out["xplique"][..., 0], out["singles"], rtol=1e-6)

    # recursive GLAS against the core's, driven by this process' model in probabilities
    for i, cls in enumerate(SINGLES):
        def score_fn(batch, cls=cls):
            return np_softmax(model(np.asarray(batch, np.float32), training=False).numpy())[:, [cls]]

        core = glas_core.explain_recursive(score_fn, x[i], spatial_axes=(0, 1), grid=GRID, max_iter=2)
        _close(out["recursive"][i], core.to_numpy()[0], rtol=1e-3)

    # overlays: the same picture as this process draws, up to one level of rounding
    here = glas_tf.GLASExplainer().explain((x, None), model, SINGLES, grid=GRID, sigma=SIGMA)
    assert out["tf_explain"].shape == here.shape and out["tf_explain"].dtype == np.uint8
    assert np.abs(out["tf_explain"].astype(int) - here.astype(int)).max() <= 1

    # a model with BatchNorm and Dropout: the maps of the inference-mode model (moving statistics,
    # no Dropout); the child checked that two calls agree and that the weights did not change
    noisy = _train_mode_cnn([out[f"noisy_w{i}"] for i in range(8)])
    for i in range(3):
        _close(out["noisy"][i, 0], reference_map(noisy, x[i], SINGLES[i], GRID, SIGMA))

    # the callback wrote one overlay per epoch; the last is the model after training
    written = _summary_images(tmp_path / "logs")
    assert len(written) == 2
    np.testing.assert_array_equal(written[-1], out["callback_grid"])


WITHOUT_TENSORFLOW = """
import sys
sys.modules["tensorflow"] = None  # as if TensorFlow were not installed
import numpy as np
from glas_adapters import tf as glas_tf
import keras
import glas_core
model = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Flatten(), keras.layers.Dense(3)])
maps = glas_tf.explain(model, np.random.default_rng(0).random((2, 8, 8, 3)).astype(np.float32), 1, grid=3)
assert maps.shape == (2, 8, 8) and np.ptp(maps) > 0
try:
    glas_tf.GLASCallback(np.zeros((1, 8, 8, 3), np.float32))
except glas_core.GLASError as exc:
    print(exc)
"""


def test_the_jax_backend_needs_no_tensorflow():
    if importlib.util.find_spec("jax") is None:
        pytest.skip("Keras backend jax is not installed")
    package_root = os.path.dirname(os.path.dirname(os.path.abspath(glas_adapters.__file__)))
    env = dict(os.environ, KERAS_BACKEND="jax", **ONE_THREAD, PYTHONPATH=package_root)
    done = subprocess.run([sys.executable, "-c", WITHOUT_TENSORFLOW], env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.startswith("GLASCallback must be used with TensorFlow installed")
    assert "glas-xai[tf]" in done.stdout
