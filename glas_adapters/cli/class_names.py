"""Moved to :mod:`glas_adapters.jobs.models.class_names` (the models every job loads: the command, Ray and
the report); this path re-exports it."""

from glas_adapters.jobs.models.class_names import (
    IMAGENET_CLASSES,
    imagenet_class_names,
)

__all__ = ["IMAGENET_CLASSES", "imagenet_class_names"]
