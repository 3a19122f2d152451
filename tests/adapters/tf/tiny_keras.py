"""Tiny Keras models with seeded weights for the Keras adapter tests, and the naive reference maps."""

from __future__ import annotations

import numpy as np
import pytest

import glas_core
from tests.core.reference import reference_glas, reference_grid_points

tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")


def seeded(model: keras.Model, seed: int, scale: float = 0.5) -> keras.Model:
    """Overwrite every weight of ``model`` with seeded normal values (no global RNG touched)."""
    rng = np.random.default_rng(seed)
    model.set_weights([(scale * rng.standard_normal(w.shape)).astype(np.float32) for w in model.get_weights()])
    return model


def tiny_cnn(shape: tuple[int, int, int], n_classes: int, *, seed: int = 0, head: str | None = None) -> keras.Model:
    """Conv(4, 3x3) -> ReLU -> MaxPool(2) -> Flatten -> Dense(n_classes, head).

    Flatten keeps the output position-dependent, so maps are not trivially uniform.
    """
    model = keras.Sequential([
        keras.Input(shape),
        keras.layers.Conv2D(4, 3, padding="same", activation="relu"),
        keras.layers.MaxPooling2D(2),
        keras.layers.Flatten(),
        keras.layers.Dense(n_classes, activation=head),
    ])
    return seeded(model, seed)


def images(n: int, shape: tuple[int, int, int], seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).random((n, *shape)).astype(np.float32)


def np_softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def reference_map(model, image_hwc, classes, grid, sigma_cells, head="softmax", baseline=0.0) -> np.ndarray:
    """Naive loop GLAS (tests/core/reference.py) of one HWC image for one class or a list, sigma in grid cells.

    The model is called on one perturbed image at a time, in float64 after its float32 forward
    pass: a reference that shares no code with the adapter or the core. Returns ``(H, W)`` for
    one class, ``(T, H, W)`` for a list.
    """
    h, w, _ = image_hwc.shape
    points = reference_grid_points((h, w), grid)
    sig = [tuple(s * n / k for n, k in zip((h, w), grid)) for s in sigma_cells]
    columns = list(np.atleast_1d(classes))

    def score_one(chw):
        out = model(np.transpose(chw, (1, 2, 0))[None].astype(np.float32), training=False).numpy().astype(np.float64)
        probs = {"softmax": np_softmax, "sigmoid": lambda z: 1 / (1 + np.exp(-z)), None: lambda z: z}[head](out)
        return probs[0, columns]

    sal, *_ = reference_glas(score_one, np.transpose(image_hwc, (2, 0, 1)).astype(np.float64), points,
                             *sig, baseline=baseline)
    return sal if np.ndim(classes) else sal[0]


def paper_scale(results) -> np.ndarray:
    """``(N, T, H, W)`` maps of results on the paper's scale: each saliency times ``exp(log_scale)``.

    A sweep scored in log-probabilities returns Eq. 3 divided by ``exp(log_scale)`` per target;
    one scored in probabilities (``log_scale`` None) is Eq. 3 as it is.
    """
    out = []
    for r in (results if isinstance(results, list) else [results]):  # one result for a single image
        scale = 1.0 if r.log_scale is None else np.exp(np.asarray(glas_core.to_numpy(r.log_scale), np.float64))
        out.append(np.asarray(glas_core.to_numpy(r.saliency), np.float64) * np.reshape(scale, (-1, 1, 1)))
    return np.stack(out)

