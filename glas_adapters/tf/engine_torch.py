"""The torch path: Keras on the PyTorch backend.

Imported only when a model runs on torch. The model is called on ``torch.Tensor`` batches
under ``torch.no_grad()``: a Keras model as ``model(x, training=False)`` on the device Keras
put it on (the torch backend runs eagerly: its own kernels, without Keras' NumPy round trip of
``predict``), a plain callable as it is. Torch tensors given by the caller stay on their
device, detached from any graph.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from glas_adapters.tf.engines import Engine, Runner
from glas_adapters.tf.frameworks import framework_of, keras_backend, to_host


def default_device() -> Any:
    """Where Keras' torch backend puts new tensors (its GPU when it has one)."""
    if keras_backend() == "torch":
        import keras

        return keras.ops.convert_to_tensor(np.zeros(1, np.float32)).device
    return torch.device("cpu")


class TorchEngine(Engine):
    name = "torch"

    def __init__(self) -> None:
        self.device = default_device()

    def native(self, images: Any) -> Any:
        """Torch tensors stay where they are (detached); anything else goes to Keras' device."""
        if framework_of(images) == "torch":
            return images.detach()
        host = to_host(images)
        if not host.flags.writeable or not host.flags.c_contiguous:
            host = np.array(host)
        return torch.from_numpy(host).to(self.device)

    def on_accelerator(self, native: Any) -> bool:
        return native.device.type != "cpu"

    def runner(self, model: Any, keras_model: bool) -> Runner:
        run = super().runner(model, keras_model)

        def no_grad_run(batch: Any) -> Any:
            with torch.no_grad():
                return run(batch)

        return no_grad_run


ENGINE_CLASS = TorchEngine
