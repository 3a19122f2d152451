"""Moved to :mod:`glas_adapters.jobs.models.keras_models` (the models every job loads: the command, Ray and
the report); this path re-exports it."""

from glas_adapters.jobs.models.keras_models import (
    KerasClassifier,
    keras_device,
    load_keras,
)

__all__ = ["KerasClassifier", "keras_device", "load_keras"]
