"""Kept for its import path: model outputs become scores in :mod:`glas_adapters._engine.scores`.

``log_softmax(logits)`` is :func:`glas_core.log_probabilities` (exact for the class a model is
sure of, where ``torch.log_softmax`` rounds it to 0).
"""

from __future__ import annotations

from torch import Tensor

import glas_core

from .functional import Probabilities

__all__ = ["Probabilities", "log_softmax"]


def log_softmax(logits: Tensor) -> Tensor:
    """``(B, K)`` log-probabilities of every class; see :func:`glas_core.log_probabilities`."""
    return glas_core.log_probabilities(logits)
