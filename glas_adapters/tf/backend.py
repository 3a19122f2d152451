"""The Keras backend of the orchestrator: channels-last images on any Keras backend.

The model runs on its own Keras backend (TensorFlow, JAX or torch; a plain callable on the
framework of the images) through a compiled forward on fixed-size chunks
(:mod:`glas_adapters.tf.engines`), so it is compiled once per call: every chunk is padded with
zero rows to the call's chunk size (:func:`~glas_adapters.tf.scoring.balanced_chunk`), the
clean pass to ``min(N, chunk)`` rows. Small images on the CPU are perturbed by the core on
NumPy; images on an accelerator, and large ones on TensorFlow or JAX, with the framework's own
ops where the model reads them. Maps come back in the framework the images came in. Nothing
here changes global TensorFlow, JAX, torch or Keras state, nor the model's.
"""

from __future__ import annotations

from typing import Any

import numpy as np

import glas_core
from glas_core.errors import GLASError, fail

from .._engine import Backend
from . import engines
from .failures import model_failure, root_cause
from .frameworks import framework_of, keras_layer, like, path_for, to_host
from .inputs import as_images, check_model_inputs, image_shape, model_input_shape, series_shape, takes_series
from .scoring import balanced_chunk

#: the spatial axes of one channels-last image (H, W, C)
HWC_SPATIAL_AXES = (0, 1)
#: the spatial axis of one channels-last series (T, C), for a Keras model whose input is (None, T, C)
SERIES_SPATIAL_AXES = (0,)


class KerasBackend(Backend):
    """A Keras model (or a callable on ``(B, H, W, C)`` batches) and the images (or series) of one call."""

    spatial_axes: tuple[int, ...] = HWC_SPATIAL_AXES

    def __init__(self, model: Any, images: Any) -> None:
        if not callable(model):
            raise fail("model", type(model).__name__, "a Keras model or a callable returning (N, num_classes) scores",
                       "pass the model itself, e.g. explain(model, images)")
        images = as_images(images)
        if keras_layer(model) and takes_series(model):
            batch_shape, self.single = series_shape(images, model_input_shape(model) or ())
            self.spatial_axes = SERIES_SPATIAL_AXES
        else:
            batch_shape, self.single = image_shape(images)
            if keras_layer(model):
                check_model_inputs(model, batch_shape)
        self.given = images
        self.engine = engines.engine_for(path_for(model, images))
        self.batch = self._work_batch(images)
        self.host_scores = framework_of(self.batch) == "numpy" or not self.engine.on_accelerator(self.batch)
        self.n_examples = int(batch_shape[0])
        self.spatial_shape = tuple(int(n) for n in batch_shape[1:1 + len(self.spatial_axes)])
        self._run = self.engine.runner(model, keras_layer(model))
        self.chunk = 1

    def _work_batch(self, images: Any) -> Any:
        """The ``(N, H, W, C)`` images the core perturbs: the framework's on an accelerator (and for
        large images), else NumPy (:meth:`~glas_adapters.tf.engines.Engine.core_on_native`)."""
        batch = images[None] if self.single else images
        if self.engine.core_on_native(self.engine.native(batch[:1])):
            return self.engine.native(batch)
        host = to_host(batch)
        return host.astype(np.float32) if host.dtype.name == "bfloat16" else host  # NumPy cannot compute in bfloat16

    def example(self, i: int) -> Any:
        return self.batch[i]

    def clean_batch(self, start: int, stop: int) -> Any:
        return self.batch[start:stop]

    def chunk_for(self, rows: int, batch_size: int) -> int:
        """As few model calls as ``batch_size`` allows, each as small as they can be; kept as the pad size."""
        self.chunk = balanced_chunk(rows, batch_size)
        return self.chunk

    def outputs(self, batch: Any, owners: np.ndarray) -> Any:
        """The model's outputs on ``batch``, padded with zero rows to the call's chunk."""
        return self._padded_run(batch, self.chunk)

    def clean_outputs(self, start: int, stop: int) -> Any:
        """The clean pass runs ``min(N, chunk)`` rows per call: padding N images up to the sweep's
        chunk would cost a whole chunk of forward passes (one more compiled shape is cheaper)."""
        return self._padded_run(self.batch[start:stop], min(self.n_examples, self.chunk))

    def _padded_run(self, batch: Any, rows: int) -> Any:
        got = int(batch.shape[0])
        padded = batch if got == rows else self.engine.pad(batch, rows)
        try:
            out = self._run(padded)
        except GLASError:
            raise
        except Exception as exc:  # noqa: BLE001 - any error of the user's model
            raise model_failure(exc, padded) from root_cause(exc)
        if got == rows:
            return out
        if isinstance(out, dict):  # a detector's named outputs
            return {k: _unpadded(v, rows, got) for k, v in out.items()}
        if isinstance(out, (tuple, list)):
            return type(out)(_unpadded(v, rows, got) for v in out)
        return _unpadded(out, rows, got)

    def to_caller(self, maps: Any) -> Any:
        if framework_of(maps) == framework_of(self.given):
            return maps
        return like(glas_core.to_numpy(maps), self.given)



def _unpadded(out: Any, rows: int, got: int) -> Any:
    """The first ``got`` rows of an output padded to ``rows``; anything else as it is (a wrong shape
    is refused, as it is, by the orchestrator's output check)."""
    if not hasattr(out, "shape") or len(out.shape) == 0 or int(out.shape[0]) != rows:
        return out
    return out[:got]
