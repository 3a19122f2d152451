"""Execution paths: how a model is run on each Keras backend (TensorFlow, JAX, torch) or on NumPy.

An :class:`Engine` converts images to its framework's tensors, tells whether they live on an
accelerator, pads chunks, and builds a *runner* ``run(batch) -> outputs``: the model's raw
outputs for a batch of images. A Keras model gets a compiled runner (``tf.function``,
``jax.jit`` over ``stateless_call``, or the torch backend's own eager kernels under
``torch.no_grad()``), always called with ``training=False``; a plain callable is called as
it is with the framework's tensors (on TensorFlow it is traced with ``tf.function`` when it
can be). Each framework's engine module imports its framework; this one imports none.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from typing import Any

import array_api_compat
import numpy as np

from glas_adapters.tf.frameworks import framework_of, to_host
from glas_core.errors import fail

#: run the core on the framework's tensors even for small images on a CPU (tests). By default the
#: core runs on the framework's tensors on an accelerator, and on a CPU only for images of at
#: least ``Engine.native_min_values`` values: below that NumPy's array math beats the eager
#: dispatch of TensorFlow or JAX; above it, building the rows where the model reads them saves
#: copying every chunk into the framework (measured on 1 CPU thread: the NumPy core 5 % faster
#: at 128 x 128 x 3, the framework's 3-4 % faster at 224 x 224 x 3).
NATIVE_ON_CPU = False

Runner = Callable[[Any], Any]

_MODULES = {"tensorflow": "engine_tf", "jax": "engine_jax", "torch": "engine_torch"}
_ENGINES: dict[str, Engine] = {}


def namespace(x: Any) -> Any:
    """The array-API namespace of a NumPy, JAX, torch or TensorFlow array (the last through the shim)."""
    if framework_of(x) == "tensorflow":
        return sys.modules["glas_adapters.tf.namespace"]
    return array_api_compat.array_namespace(x)


def device(x: Any) -> Any:
    """The device of a NumPy, JAX, torch or TensorFlow array, as its namespace's functions take it."""
    if framework_of(x) == "tensorflow":
        return namespace(x).device(x)
    return array_api_compat.device(x)


class Engine:
    """The NumPy path (a plain callable and no framework); the base of the framework engines."""

    name = "numpy"
    #: images of at least this many values are perturbed on the framework's tensors on a CPU too
    #: (None: never; torch takes NumPy rows without a copy)
    native_min_values: int | None = None

    def native(self, images: Any) -> Any:
        """``images`` as this framework's tensor, on the device it would run on."""
        return to_host(images)

    def on_accelerator(self, native: Any) -> bool:
        """Whether ``native`` lives on a GPU or another accelerator."""
        return False

    def core_on_native(self, native_image: Any) -> bool:
        """Whether the core perturbs images like ``native_image`` (one image, batch axis first) natively."""
        if NATIVE_ON_CPU or self.on_accelerator(native_image):
            return True
        values = int(np.prod([int(s) for s in native_image.shape[1:]]))
        return self.native_min_values is not None and values >= self.native_min_values

    def pad(self, batch: Any, rows: int) -> Any:
        """``batch`` followed by zero rows up to ``rows`` rows, in ``batch``'s own framework."""
        if framework_of(batch) == "numpy":
            return np.concatenate([batch, np.zeros((rows - len(batch), *batch.shape[1:]), batch.dtype)], axis=0)
        xp = namespace(batch)
        zeros = xp.full((rows - int(batch.shape[0]), *batch.shape[1:]), 0.0, dtype=batch.dtype, device=device(batch))
        return xp.concat([batch, zeros], axis=0)

    def runner(self, model: Any, keras_model: bool) -> Runner:
        """``run(batch)``: the model's raw outputs on ``batch`` (NumPy or this framework's tensor)."""
        if keras_model:
            return lambda batch: model(self.native(batch), training=False)
        return lambda batch: model(self.native(batch))


def engine_for(path: str) -> Engine:
    """The engine of an execution path (its framework imported on first use)."""
    if path not in _ENGINES:
        if path == "numpy":
            _ENGINES[path] = Engine()
        else:
            try:
                module = importlib.import_module(f"glas_adapters.tf.{_MODULES[path]}")
            except ImportError as exc:
                raise fail("model", f"a model on the Keras backend {path!r}, whose framework is not importable "
                           f"({exc})", "a model whose framework is installed",
                           f"install {path} (pip install \"glas-xai[tf]\" for TensorFlow)") from None
            _ENGINES[path] = module.ENGINE_CLASS()
    return _ENGINES[path]
