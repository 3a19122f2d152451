"""Keras models for the command: ``.keras`` files, explained with :mod:`glas_adapters.tf`.

Loading is safe and offline: ``keras.saving.load_model(safe_mode=True)`` (no Python code in
Lambda layers is run); legacy HDF5 files are refused.
"""

from __future__ import annotations

import contextlib
import zipfile
from typing import Any

import numpy as np

from glas_adapters.jobs.models.classifier import NORMALIZATIONS, Classifier, resize_image
from glas_core.errors import fail


class KerasClassifier(Classifier):
    """A Keras classifier fed [0, 1] channels-last pixels; explained with ``glas_adapters.tf``.

    Every target of an image is explained in one sweep per scale.
    """

    runtime = "keras"

    def __init__(self, model: Any, input_size: tuple[int, int], normalize: str, device: str | None,
                 class_names: list[str] | None, probabilities: str | None, description: str) -> None:
        mean, std = NORMALIZATIONS[normalize]
        self.mean = np.asarray(mean, dtype=np.float32)
        self.std = np.asarray(std, dtype=np.float32)
        self.model = model
        self.input_size = input_size
        self.tf_device = device
        self.class_names = class_names
        self.probabilities_kind = probabilities
        self.description = description

    def forward(self, pixels: Any) -> Any:
        """Normalise ``(B, H, W, 3)`` [0, 1] pixels (NumPy or tf) and call the model."""
        return self.model((pixels - self.mean) / self.std, training=False)

    def prepare(self, image: np.ndarray) -> np.ndarray:
        return resize_image(image, self.input_size)

    def model_context(self) -> Any:
        import tensorflow as tf

        return tf.device(self.tf_device) if self.tf_device else contextlib.nullcontext()

    def outputs(self, x: np.ndarray) -> Any:
        return self.forward(x[None])

    def adapter_call(self, x: np.ndarray) -> tuple[Any, Any, Any, dict[str, Any]]:
        from glas_adapters import tf as glas_tf

        return glas_tf, self.forward, x, {}

    def display(self, x: np.ndarray) -> np.ndarray:
        return x


def load_keras(path: str, device: str | None, input_size: tuple[int, int] | None, normalize: str,
               probabilities: str | None) -> Classifier:
    """A ``.keras`` archive, loaded in safe mode, with ``--normalize`` applied inside the forward pass.

    A model whose input is ``(None, T, C)`` is a sequence classifier (:mod:`~glas_adapters.jobs.models.series_models`).
    """
    if not zipfile.is_zipfile(path):
        raise fail("--model", f"{path!r}, which is not a Keras 3 .keras archive (not a zip file)", "a .keras file",
                   "save the model with model.save('model.keras')")
    from glas_adapters.tf.runtime import load_tensorflow

    load_tensorflow()  # before Keras: TensorFlow's start-up notices stay off the terminal
    try:
        import keras
    except ImportError:
        raise fail("--model", f"the .keras file {path!r}", "used with keras and tensorflow installed",
                   "pip install 'glas-xai[tf]'") from None
    try:
        model = keras.saving.load_model(path, compile=False, safe_mode=True)
    except Exception as exc:
        reason = " ".join(str(exc).split())[:200]
        raise fail("--model", f"{path!r}, which could not be loaded in safe mode ({reason})", "a Keras model",
                   "re-save it with model.save('model.keras') and avoid Lambda layers holding Python code") from None
    from glas_adapters.jobs.models.series_models import keras_series

    series = keras_series(model, path, keras_device(device), input_size, normalize, probabilities)
    if series is not None:  # an input (None, T, C): a sequence classifier
        return series
    shape = tuple(getattr(model, "input_shape", ()) or ())
    if input_size is None:
        if len(shape) != 4 or shape[1] is None or shape[2] is None:
            raise fail("--input-size", f"none, for the Keras model {path!r} with inputs of shape {shape}",
                       "given when the model has no fixed (H, W)", "pass --input-size H,W")
        input_size = (int(shape[1]), int(shape[2]))
    if len(shape) == 4 and shape[-1] not in (None, 3):
        raise fail("--model", f"the Keras model {path!r} with {shape[-1]} input channels",
                   "a model with RGB input (3 channels, channels last)", "explain a model with RGB input")
    return KerasClassifier(model, input_size, normalize, keras_device(device), None, probabilities,
                           f"Keras model {path!r}")


def keras_device(device: str | None) -> str | None:
    """``--device`` (cpu, cuda, cuda:N) as a TensorFlow device name; None for TensorFlow's choice."""
    if device is None:
        return None
    name = device.lower()
    if name == "cpu":
        return "/CPU:0"
    if name.startswith("cuda"):
        return "/GPU:" + (name.split(":", 1)[1] if ":" in name else "0")
    raise fail("--device", repr(device), "cpu, cuda or cuda:N for Keras models", "use --device cpu")
