"""Score functions over a torch model: for the explainers (``glas_core.explain``, RISE) and
for the model-based metrics of ``glas_core.metrics`` (NumPy in, NumPy out).

GLAS is scored in log-probabilities with ``glas_core.explain(..., log_scores=True)``, as the
adapters score it for their users, so an over-confident model whose float32 probabilities
underflow under the masks still gets an informative map; :func:`log_probability_fn` also keeps
the scores of a class the model is sure of apart (where ``log_softmax`` rounds them all to 0).
The other explainers score plain probabilities, as their libraries do.
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


def log_probability(logits: Any, target: int) -> Any:
    """``(B, 1)`` float64 ``log P(target)`` of torch logits ``(B, K)``, exact at both ends.

    ``log P(y) = -softplus(logsumexp_{k != y} z_k - z_y)``: the same value as ``log_softmax``,
    but where the model is sure of ``y`` (a logit margin above about 17 in float32, 37 in
    float64) ``log_softmax`` rounds to exactly 0 and every masked image scores the same, while
    this form keeps ``-exp(-margin)`` down to margins of about 700.
    """
    import torch

    z = logits.double()
    others = torch.cat([z[:, :target], z[:, target + 1 :]], dim=1)
    return -torch.nn.functional.softplus(torch.logsumexp(others, dim=1) - z[:, target])[:, None]


def log_probability_fn(module: Any, target: int) -> Callable[[Any], Any]:
    """``score_fn(batch) -> (B, 1)`` :func:`log_probability` of ``target`` (no gradients), for
    ``glas_core.explain(..., log_scores=True)``."""
    import torch

    def score_fn(batch):
        with torch.no_grad():
            return log_probability(module(batch), target)

    return score_fn


def numpy_model(model: Any) -> Callable[[np.ndarray], np.ndarray]:
    """``model(numpy batch) -> numpy probabilities``, for ``glas_core.metrics``."""
    import torch

    def f(batch):
        with torch.no_grad():
            return model(torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32))).softmax(-1).numpy()

    return f
