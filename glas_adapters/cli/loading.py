"""Moved to :mod:`glas_adapters.jobs.models.loading` (the models every job loads: the command, Ray and
the report); this path re-exports it."""

from glas_adapters.jobs.models.loading import (
    BUILTIN_MODELS,
    load_model,
)

__all__ = ["BUILTIN_MODELS", "load_model"]
