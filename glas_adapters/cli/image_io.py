"""Moved to :mod:`glas_adapters.jobs.image_io` (shared with Ray and the report); this path re-exports it."""

from glas_adapters.jobs.image_io import load_image

__all__ = ["load_image"]
