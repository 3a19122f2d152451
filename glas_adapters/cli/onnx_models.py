"""Moved to :mod:`glas_adapters.jobs.models.onnx_models` (the models every job loads: the command, Ray and
the report); this path re-exports it."""

from glas_adapters.jobs.models.onnx_models import (
    DEFAULT_SIZE,
    OnnxClassifier,
    load_onnx,
    onnx_providers,
)

__all__ = ["DEFAULT_SIZE", "OnnxClassifier", "load_onnx", "onnx_providers"]
