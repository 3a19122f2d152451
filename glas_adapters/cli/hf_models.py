"""Moved to :mod:`glas_adapters.jobs.models.hf_models` (the models every job loads: the command, Ray and
the report); this path re-exports it."""

from glas_adapters.jobs.models.hf_models import (
    Captioner,
    HFClassifier,
    load_huggingface,
)

__all__ = ["Captioner", "HFClassifier", "load_huggingface"]
