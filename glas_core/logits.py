"""Log-probabilities of target classes from logits, exact even for a saturated class.

``log_softmax`` computes ``z_y - logsumexp(z)``; when class y wins by more than about 17 (float32)
or 37 (float64) logits, ``logsumexp(z)`` rounds to ``z_y`` and every perturbed input scores
exactly 0: the sweep sees no change at all. Written as
``log p_y = -softplus(logsumexp_{j != y} z_j - z_y)``, the same quantity keeps its tiny but exact
value (``-exp(-margin)``), and a losing class keeps its large negative one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ._array_api import device_of, namespace_of


def softplus(xp: Any, u: Any) -> Any:
    """``log(1 + exp(u))`` without overflow, and exact (``exp(u)``) for very negative ``u``."""
    return xp.maximum(u, xp.zeros_like(u)) + xp.log1p(xp.exp(-xp.abs(u)))


def log_probabilities(logits: Any, targets: Sequence[int] | None = None, kind: str = "softmax") -> Any:
    """``(B, T)`` log-probabilities of the ``targets`` columns of ``(B, K)`` logits (all K when None).

    Softmax: ``log p_k = z_k - m - log1p(sum_{j != top} exp(z_j - m))`` with ``m = max z``, so the
    top class keeps ``-log1p(s) ~ -s`` (exact down to margins of about 87 in float32) where
    ``log_softmax`` rounds it to 0; sigmoid: ``-softplus(-z)``.

    Parameters
    ----------
    logits : array
        Any array-API array (NumPy, torch, JAX, ...); half precision is promoted to float32.
    targets : sequence of int, optional
        Column indices; None for every column.
    kind : {"softmax", "sigmoid"}
        Exclusive classes (softmax over the last axis) or independent outputs (sigmoid).
    """
    xp = namespace_of(logits)
    z = logits if logits.dtype in (xp.float32, xp.float64) else xp.astype(logits, xp.float32)
    if kind == "sigmoid":
        out = -softplus(xp, -z)
    else:
        shifted = z - xp.max(z, axis=-1, keepdims=True)
        top = xp.argmax(z, axis=-1, keepdims=True)
        columns = xp.arange(int(z.shape[-1]), device=device_of(z))
        others = xp.where(columns[None, :] == top, xp.zeros_like(shifted), xp.exp(shifted))
        out = shifted - xp.log1p(xp.sum(others, axis=-1, keepdims=True))
    if targets is None:
        return out
    return xp.stack([out[:, int(t)] for t in targets], axis=1)
