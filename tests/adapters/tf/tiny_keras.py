"""Tiny Keras models with seeded weights for the TensorFlow adapter tests."""

from __future__ import annotations

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")


def seeded(model: "keras.Model", seed: int, scale: float = 0.5) -> "keras.Model":
    """Overwrite every weight of ``model`` with seeded normal values (no global RNG touched)."""
    rng = np.random.default_rng(seed)
    model.set_weights([(scale * rng.standard_normal(w.shape)).astype(np.float32) for w in model.get_weights()])
    return model


def tiny_cnn(shape: tuple[int, int, int], n_classes: int, *, seed: int = 0, head: str | None = None) -> "keras.Model":
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
