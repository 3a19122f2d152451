"""Moved to :mod:`glas_adapters.jobs.models.classifier` (the models every job loads: the command, Ray and
the report); this path re-exports it."""

from glas_adapters.jobs.models.classifier import (
    NORMALIZATIONS,
    Classifier,
    ExplainSettings,
    resize_image,
)

__all__ = ["NORMALIZATIONS", "Classifier", "ExplainSettings", "resize_image"]
