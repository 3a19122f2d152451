"""``runtime="onnx"`` for Keras on TensorFlow: the sweep run by ONNX Runtime on the model converted by tf2onnx.

The model is converted once per image shape (``tf2onnx.convert.from_function`` on
``model(x, training=False)``; ``from_keras`` does not take Keras 3 models) into a temporary folder
kept for the process, checked against Keras on the call's clean images every call (a model whose
weights changed is converted again) and run by ONNX Runtime; the maps come back as the images'
framework's arrays, as on the Keras runtime. What cannot run there runs in Keras, with one warning
saying why: tf2onnx or ONNX Runtime missing, a Keras backend other than TensorFlow, images on an
accelerator (GPU users keep Keras), images that are not float32, a model that does not convert.
"""

from __future__ import annotations

import contextlib
import logging
import os
import warnings
import weakref
from collections.abc import Iterator
from typing import Any

import numpy as np

from glas_core.errors import GLASError

from .._common import user_stacklevel
from ..onnx import exported
from ..onnx.exported import checked_session, export_or_refuse, process_folder, session_outputs
from .backend import KerasBackend
from .frameworks import keras_layer, to_host

_EXPORTS: weakref.WeakKeyDictionary[Any, dict[tuple[int, ...], str]] = weakref.WeakKeyDictionary()


def check_runtime(runtime: Any) -> str:
    """Refuse a ``runtime`` other than "keras" or "onnx"."""
    return exported.check_runtime(runtime, "keras", "Keras")


class OnnxKerasBackend(KerasBackend):
    """:class:`KerasBackend` whose rows are run by an ONNX Runtime session (no padding: its batch axis is dynamic)."""

    host_scores = True

    def __init__(self, model: Any, images: Any, session: Any) -> None:
        super().__init__(model, images)
        self.ort_session = session

    def chunk_for(self, rows: int, batch_size: int) -> int:
        self.chunk = batch_size
        return batch_size

    def outputs(self, batch: Any, owners: np.ndarray) -> Any:
        return session_outputs(self.ort_session, np.ascontiguousarray(to_host(batch), dtype=np.float32))

    def clean_outputs(self, start: int, stop: int) -> Any:
        return self.outputs(self.batch[start:stop], np.arange(start, stop))


def keras_backend(model: Any, images: Any, runtime: str) -> KerasBackend:
    """The backend of one call: Keras, or ONNX Runtime for ``runtime="onnx"`` where it can run the model."""
    if check_runtime(runtime) == "keras":
        return KerasBackend(model, images)
    backend = KerasBackend(model, images)
    why = _why_not_onnx(model, backend)
    if why is None:
        try:
            return OnnxKerasBackend(model, images, _checked_session(model, backend))
        except GLASError as err:
            why = str(err).split("; ")[0]
    warnings.warn(f"runtime='onnx' runs this call in Keras instead: {why}", RuntimeWarning,
                  stacklevel=user_stacklevel())
    return backend


def _why_not_onnx(model: Any, backend: KerasBackend) -> str | None:
    for module, package in (("tf2onnx", "tf2onnx"), ("onnxruntime", "onnxruntime")):
        try:
            __import__(module)
        except ImportError:
            return f"{module} is not installed (pip install {package})"
    if backend.engine.name != "tensorflow":
        return f"the model runs on Keras' {backend.engine.name} backend (tf2onnx converts TensorFlow models)"
    if not backend.host_scores:
        return "the images are on an accelerator (ONNX Runtime runs here on the CPU; Keras keeps the GPU)"
    dtype = getattr(backend.batch, "dtype", None)
    if str(getattr(dtype, "name", dtype)) != "float32":
        return f"the images are {getattr(dtype, 'name', dtype)}, not float32"
    return None


def _checked_session(model: Any, backend: KerasBackend) -> Any:
    """A session of the model's conversion for this image shape, checked on the call's clean images."""
    images = backend.batch[:64]  # many images: the first 64 are checked
    rows = int(images.shape[0])
    clean = np.ascontiguousarray(to_host(images), dtype=np.float32)
    want = to_host(backend._padded_run(images, rows))
    shape = tuple(int(s) for s in clean.shape[1:])
    known = _EXPORTS.setdefault(model, {})
    if shape in known:
        try:
            return checked_session(known[shape], clean, want, fix="explain it with runtime='keras'")
        except GLASError:
            pass  # converted before the weights changed: convert again
    path = os.path.join(process_folder(), f"model-{id(model):x}-{'x'.join(map(str, shape))}.onnx")
    known[shape] = _convert(model, shape, path)
    return checked_session(path, clean, want, fix="explain it with runtime='keras'")


def _convert(model: Any, shape: tuple[int, ...], path: str) -> str:
    import tensorflow as tf
    import tf2onnx

    spec = (tf.TensorSpec((None, *shape), tf.float32, name="pixels"),)
    keras_model = keras_layer(model)

    def forward(x: Any) -> Any:
        return model(x, training=False) if keras_model else model(x)

    function = tf.function(forward, input_signature=spec)

    def export(tmp: str) -> None:
        with _tf2onnx_quiet():
            tf2onnx.convert.from_function(function, input_signature=spec, opset=17, output_path=tmp)

    return export_or_refuse(path, export, "tf2onnx", "keras")


@contextlib.contextmanager
def _tf2onnx_quiet() -> Iterator[None]:
    """tf2onnx logs every conversion step; its logger is quieted for the conversion and put back."""
    logger = logging.getLogger("tf2onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)
