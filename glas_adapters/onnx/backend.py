"""The ONNX Runtime backend of the orchestrator: NumPy images in the model's layout, session runs out."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

import glas_core

from .._engine import Backend
from .inputs import check_images
from .scoring import SessionRunner
from .session import open_session, signature_of


class OnnxBackend(Backend):
    """An ONNX model (a path or an open ``InferenceSession``) and the images of one call.

    Parameters
    ----------
    model
        A ``.onnx`` path or an ``onnxruntime.InferenceSession``; the session is never changed.
    images
        What ``session.run`` would take, with or without the batch axis (checked and copied).
    layout
        "NCHW", "NHWC" or None (read from the model, then from the images).
    session_options, providers
        Passed to ``onnxruntime.InferenceSession`` when ``model`` is a path.
    """

    def __init__(self, model: Any, images: Any, layout: str | None, session_options: Any,
                 providers: Sequence[Any] | None, output_names: Sequence[str] | None = None) -> None:
        session = open_session(model, session_options, providers)
        signature = signature_of(session, output_names)
        self.images = check_images(images, signature, layout)
        self.runner = SessionRunner(session, signature)
        self.n_examples = int(self.images.batch.shape[0])
        self.single = self.images.single
        self.spatial_axes = self.images.spatial_axes
        self.spatial_shape = self.images.spatial_shape

    def example(self, i: int) -> np.ndarray:
        return self.images.batch[i]

    def clean_batch(self, start: int, stop: int) -> np.ndarray:
        return self.images.batch[start:stop]

    def outputs(self, batch: np.ndarray, owners: np.ndarray) -> Any:
        if self.runner.signature.output_names:
            return self.runner.named_outputs(batch)
        return self.runner.outputs(batch)

    def chunk_for(self, rows: int, batch_size: int) -> int:
        """A model exported with a fixed batch axis is fed a multiple of it per call."""
        fixed = self.runner.signature.batch
        return batch_size if fixed is None else fixed * max(1, batch_size // fixed)

    def to_caller(self, maps: Any) -> np.ndarray:
        return glas_core.to_numpy(maps)
