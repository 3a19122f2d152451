"""Sequence classifiers for the command: TorchScript and ``.keras`` models that take series.

A series file is ``(C, T)``, channels first (``(T,)`` is one channel). A TorchScript model whose
first layer is ``Conv1d`` takes ``(N, C, T)`` batches and is explained with
:func:`glas_adapters.torch.explain` (``spatial_dims=1``); a Keras model whose one input is
``(None, T, C)`` takes channels-last batches and is explained with :func:`glas_adapters.tf.explain`
on the transposed ``(T, C)`` series. Both see the series as it is: ``--normalize`` and
``--input-size`` are image options and are refused. ONNX sequence models are not explained
(:mod:`glas_adapters.onnx` takes 4-D image inputs only).
"""

from __future__ import annotations

import contextlib
from typing import Any

import numpy as np

from glas_adapters.jobs.models.classifier import Classifier
from glas_core.errors import fail

#: First layers whose type says what a TorchScript model reads (``original_name`` of its submodules).
_FIRST_LAYER_NAMES = ("Conv1d", "Conv2d", "Conv3d", "Linear", "LSTM", "GRU", "RNN")


class SeriesClassifier(Classifier):
    """A sequence classifier fed ``(C, T)`` float32 series, one map of length T per target.

    Subclasses set ``channels`` (the channel count the model reads, None when unknown) and
    ``length`` (its fixed number of time steps, None when any).
    """

    kind = "series"
    plain_resize = False
    channels: int | None = None
    length: int | None = None

    def display(self, x: Any) -> np.ndarray:  # pragma: no cover - series figures draw the file's series
        raise NotImplementedError


class TorchSeriesClassifier(SeriesClassifier):
    """A TorchScript model whose first layer is Conv1d: ``(N, C, T)`` batches, explained along T."""

    runtime = "torch"

    def __init__(self, module: Any, device: Any, channels: int | None, probabilities: str | None,
                 description: str) -> None:
        self.forward = module
        self.device = device
        self.channels = channels
        self.class_names = None
        self.probabilities_kind = probabilities
        self.description = description

    def threads(self) -> int | None:
        import torch

        return int(torch.get_num_threads())

    def prepare(self, series: np.ndarray) -> Any:
        import torch

        return torch.from_numpy(np.ascontiguousarray(series, dtype=np.float32)).to(self.device)

    def outputs(self, x: Any) -> Any:
        import torch

        with torch.no_grad():
            out = self.forward(x[None])
        if not isinstance(out, torch.Tensor):
            raise fail("model output", f"a {type(out).__name__} from {self.description}",
                       "a (batch, num_classes) tensor of class scores",
                       "export a model whose forward returns the logits")
        return out

    def adapter_call(self, x: Any) -> tuple[Any, Any, Any, dict[str, Any]]:
        from glas_adapters import torch as glas_torch

        return glas_torch, self.forward, x, {"spatial_dims": 1}


class KerasSeriesClassifier(SeriesClassifier):
    """A Keras model whose input is ``(None, T, C)``: the ``(C, T)`` series is transposed to ``(T, C)``."""

    runtime = "keras"

    def __init__(self, model: Any, shape: tuple[Any, ...], device: str | None, probabilities: str | None,
                 description: str) -> None:
        self.model = model
        self.channels = None if shape[2] is None else int(shape[2])
        self.length = None if shape[1] is None else int(shape[1])
        self.tf_device = device
        self.class_names = None
        self.probabilities_kind = probabilities
        self.description = description

    def prepare(self, series: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(np.asarray(series, dtype=np.float32).T)

    def model_context(self) -> Any:
        import tensorflow as tf

        return tf.device(self.tf_device) if self.tf_device else contextlib.nullcontext()

    def outputs(self, x: np.ndarray) -> Any:
        return self.model(x[None], training=False)

    def adapter_call(self, x: np.ndarray) -> tuple[Any, Any, Any, dict[str, Any]]:
        from glas_adapters import tf as glas_tf

        return glas_tf, self.model, x, {}


def _check_image_options(path: str, input_size: tuple[int, int] | None, normalize: str) -> None:
    if input_size is not None or normalize != "none":
        raise fail("--input-size/--normalize", f"given with the sequence classifier {path!r}",
                   "left out for series (they are image options: a series is explained as the file holds it)",
                   "drop them")


def torchscript_first_layer(module: Any) -> Any:
    """The first Conv1d/2d/3d, Linear or recurrent submodule of a TorchScript module (registration order), or None.

    A scripted or traced module keeps each submodule's class name in ``original_name``.
    """
    return next((m for m in module.modules() if getattr(m, "original_name", None) in _FIRST_LAYER_NAMES), None)


def _conv1d_channels(layer: Any) -> int | None:
    """The channels a TorchScript Conv1d reads: ``in_channels`` (scripted), else its weight's axis 1 (traced)."""
    value = getattr(layer, "in_channels", None)
    if isinstance(value, int):
        return value
    weight = getattr(layer, "weight", None)
    groups = getattr(layer, "groups", 1)
    if weight is not None and getattr(weight, "ndim", 0) == 3 and isinstance(groups, int):
        return int(weight.shape[1]) * groups
    return None


def torch_series(module: Any, path: str, device: Any, input_size: tuple[int, int] | None, normalize: str,
                 probabilities: str | None) -> TorchSeriesClassifier | None:
    """``module`` as a sequence classifier when its first layer is Conv1d, else None (an image classifier)."""
    layer = torchscript_first_layer(module)
    if layer is None or layer.original_name != "Conv1d":
        return None
    _check_image_options(path, input_size, normalize)
    return TorchSeriesClassifier(module.eval(), device, _conv1d_channels(layer), probabilities,
                                 f"TorchScript model {path!r}")


def keras_series(model: Any, path: str, device: str | None, input_size: tuple[int, int] | None, normalize: str,
                 probabilities: str | None) -> KerasSeriesClassifier | None:
    """``model`` as a sequence classifier when its one input is ``(None, T, C)``, else None; ``device`` is a
    TensorFlow device name (:func:`~glas_adapters.jobs.models.keras_models.keras_device`)."""
    from glas_adapters.tf.inputs import model_input_shape

    shape = model_input_shape(model)
    if shape is None or len(shape) != 3:
        return None
    _check_image_options(path, input_size, normalize)
    return KerasSeriesClassifier(model, shape, device, probabilities, f"Keras model {path!r}")
