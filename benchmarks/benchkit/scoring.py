"""Score functions over a torch model: for the explainers that score probabilities (RISE) and
for the model-based metrics of ``glas_core.metrics`` (NumPy in, NumPy out).

GLAS itself runs through ``glas_adapters.torch`` (:func:`benchkit.methods.glas_result`), which
scores log-probabilities, as its users get it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np


def probability_fn(module: Any, target: int, *, softmax: bool = True) -> Callable[[Any], Any]:
    """``score_fn(batch) -> (B, 1)`` probability of ``target`` (no gradients)."""
    import torch

    def score_fn(batch):
        with torch.no_grad():
            out = module(batch)
            out = out.softmax(-1) if softmax else out
        return out[:, target : target + 1]

    return score_fn


def numpy_model(model: Any) -> Callable[[np.ndarray], np.ndarray]:
    """``model(numpy batch) -> numpy probabilities``, for ``glas_core.metrics``."""
    import torch

    def f(batch):
        with torch.no_grad():
            return model(torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32))).softmax(-1).numpy()

    return f
