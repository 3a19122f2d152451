"""Score functions over a torch model: for the explainers (``glas_core.explain``, RISE) and
for the model-based metrics of ``glas_core.metrics`` (NumPy in, NumPy out).

GLAS is scored as its users get it from ``glas_adapters.torch``: log-probabilities
(``log_softmax`` of the logits in float32) with ``glas_core.explain(..., log_scores=True)``, so an
over-confident model whose float32 probabilities underflow under the masks still gets an
informative map. The other explainers score plain probabilities, as their libraries do.
"""

from __future__ import annotations

from typing import Any, Callable

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


def log_probability_fn(module: Any, target: int) -> Callable[[Any], Any]:
    """``score_fn(batch) -> (B, 1)`` log-probability of ``target``: ``log_softmax`` in float32
    (float64 stays float64), for ``glas_core.explain(..., log_scores=True)``."""
    import torch

    def score_fn(batch):
        with torch.no_grad():
            out = module(batch)
            out = out if out.dtype == torch.float64 else out.float()
            return torch.log_softmax(out, dim=-1)[:, target : target + 1]

    return score_fn


def numpy_model(model: Any) -> Callable[[np.ndarray], np.ndarray]:
    """``model(numpy batch) -> numpy probabilities``, for ``glas_core.metrics``."""
    import torch

    def f(batch):
        with torch.no_grad():
            return model(torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32))).softmax(-1).numpy()

    return f
