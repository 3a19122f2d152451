"""Which framework an array or a model belongs to, found without importing any framework.

Keras 3 runs on TensorFlow, JAX or PyTorch and fixes its backend when it is imported. The
adapter picks its execution path from the model's backend and the images' type (never from
whether TensorFlow happens to be installed), and returns maps in the framework the images came
in. Everything here reads ``sys.modules`` (and Keras' own configuration) only.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from typing import Any

import numpy as np

import glas_core

#: the execution paths: one per Keras backend, plus plain NumPy callables
BACKENDS = ("tensorflow", "jax", "torch", "numpy")


def framework_of(x: Any) -> str:
    """``"tensorflow"``, ``"jax"``, ``"torch"`` or ``"numpy"`` (anything else) for an array."""
    module = type(x).__module__ or ""
    root = module.split(".", 1)[0]
    if root == "tensorflow" and "tensorflow" in sys.modules:
        tf = sys.modules["tensorflow"]
        if isinstance(x, (tf.Tensor, tf.Variable)):
            return "tensorflow"
    if root in ("jax", "jaxlib") and "jax" in sys.modules and isinstance(x, sys.modules["jax"].Array):
        return "jax"
    if root == "torch" and "torch" in sys.modules and isinstance(x, sys.modules["torch"].Tensor):
        return "torch"
    return "numpy"


def keras_layer(model: Any) -> bool:
    """True for a Keras 3 layer or model (Keras is only looked up, never imported)."""
    keras = sys.modules.get("keras")
    return keras is not None and isinstance(model, keras.layers.Layer)


def keras_backend() -> str | None:
    """The backend of the imported Keras, or None when Keras is not imported."""
    keras = sys.modules.get("keras")
    return None if keras is None else str(keras.backend.backend())


def upcoming_keras_backend() -> str:
    """The backend Keras will use once imported: ``KERAS_BACKEND``, else ``keras.json``, else TensorFlow.

    The same lookup Keras does at import (``$KERAS_HOME`` or ``~/.keras``); used to import
    TensorFlow quietly before Keras does, only when Keras will run on it.
    """
    imported = keras_backend()
    if imported is not None:
        return imported
    chosen = os.environ.get("KERAS_BACKEND")
    if chosen:
        return chosen
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    try:
        with open(os.path.join(home, "keras.json"), encoding="utf-8") as f:
            return str(json.load(f).get("backend", "tensorflow"))
    except (OSError, ValueError, AttributeError):
        return "tensorflow"


def path_for(model: Any, images: Any) -> str:
    """The execution path of ``model`` on ``images``: one of :data:`BACKENDS`.

    A Keras model runs on its Keras backend. A plain callable runs on the framework of the
    images when they are a framework's tensors; for NumPy images, on the imported Keras'
    backend (the callable most likely wraps a Keras model), else on TensorFlow when only
    TensorFlow is imported, else on NumPy.
    """
    if keras_layer(model):
        return keras_backend() or "numpy"
    given = framework_of(images)
    if given != "numpy":
        return given
    backend = keras_backend()
    if backend in BACKENDS:
        return backend
    return "tensorflow" if "tensorflow" in sys.modules else "numpy"


def to_host(x: Any) -> np.ndarray:
    """Any array (NumPy, TensorFlow, JAX, torch on any device, with or without grad) as NumPy."""
    if framework_of(x) == "tensorflow":
        return np.asarray(x.numpy())
    return np.asarray(glas_core.to_numpy(x))


def like(maps: np.ndarray, images: Any) -> Any:
    """``maps`` (NumPy) in the framework and on the device ``images`` came in (NumPy stays NumPy)."""
    kind = framework_of(images)
    if kind == "tensorflow":
        tf = sys.modules["tensorflow"]
        with tf.device(images.device) if images.device else contextlib.nullcontext():
            return tf.convert_to_tensor(maps)
    if kind == "jax":
        jax = sys.modules["jax"]
        return jax.device_put(maps, next(iter(images.devices())))
    if kind == "torch":
        return sys.modules["torch"].from_numpy(np.ascontiguousarray(maps)).to(images.device)
    return maps
