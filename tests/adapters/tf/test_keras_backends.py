"""Keras 3 on the torch or JAX backend goes through the NumPy (callable) path and gives the
same maps as the TensorFlow path for the same weights.

One subprocess per backend (the Keras backend is fixed at import); TensorFlow is blocked in the
child, so the path provably works without it. Torch runs on one thread in the child.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from tests.adapters.tf.tiny_keras import images, tiny_cnn

from glas_adapters import tf as glas_tf

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

CHILD = textwrap.dedent("""
    import sys
    sys.modules["tensorflow"] = None  # the non-TF path must not need TensorFlow
    import numpy as np, keras
    if keras.backend.backend() == "torch":
        import torch
        torch.set_num_threads(1)
    from glas_adapters import tf as glas_tf
    from glas_adapters.tf import scoring
    assert keras.backend.backend() == sys.argv[2], keras.backend.backend()
    assert scoring.tf is None
    data = np.load(sys.argv[1] + "/in.npz")
    model = keras.Sequential([
        keras.Input(data["x"].shape[1:]),
        keras.layers.Conv2D(4, 3, padding="same", activation="relu"),
        keras.layers.MaxPooling2D(2),
        keras.layers.Flatten(),
        keras.layers.Dense(3),
    ])
    model.set_weights([data[f"w{i}"] for i in range(4)])
    maps = glas_tf.explain(model, data["x"], [2, 0], grid=4, batch_size=10)
    rec = glas_tf.explain_recursive(model, data["x"][0], 1, grid=4, max_iter=2)
    np.savez(sys.argv[1] + "/out.npz", maps=maps, rec=rec)
""")


@pytest.mark.parametrize("backend", ["torch", "jax"])
def test_keras_on_other_backend_matches_tensorflow_path(backend, tmp_path):
    if importlib.util.find_spec(backend) is None:
        pytest.skip(f"Keras backend {backend} is not installed")
    shape = (8, 10, 3)
    model = tiny_cnn(shape, 3, seed=11)
    x = images(2, shape, seed=12)
    np.savez(tmp_path / "in.npz", x=x, **{f"w{i}": w for i, w in enumerate(model.get_weights())})
    env = dict(os.environ, KERAS_BACKEND=backend, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""),
               OMP_NUM_THREADS="1")
    done = subprocess.run([sys.executable, "-c", CHILD, str(tmp_path), backend], env=env, capture_output=True,
                          text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    out = np.load(tmp_path / "out.npz")
    expected = glas_tf.explain(model, x, [2, 0], grid=4, batch_size=10)
    np.testing.assert_allclose(out["maps"], expected, rtol=0, atol=1e-5 * np.abs(expected).max())
    expected_rec = glas_tf.explain_recursive(model, x[0], 1, grid=4, max_iter=2)
    np.testing.assert_allclose(out["rec"], expected_rec, rtol=0, atol=1e-4 * np.abs(expected_rec).max())
