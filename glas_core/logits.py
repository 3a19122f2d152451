"""Log-probabilities of target classes from logits, exact even for a saturated class.

``log_softmax`` computes ``z_y - logsumexp(z)``; when class y wins by more than about 17 (float32)
or 37 (float64) logits, ``logsumexp(z)`` rounds to ``z_y`` and every perturbed input scores
exactly 0: the sweep sees no change at all. Written as
``log p_y = -softplus(logsumexp_{j != y} z_j - z_y)``, the same quantity keeps its tiny but exact
value (``-exp(-margin)``), and a losing class keeps its large negative one.
"""

from __future__ import annotations

from typing import Any, Sequence

from ._array_api import namespace_of


def softplus(xp: Any, u: Any) -> Any:
    """``log(1 + exp(u))`` without overflow, and exact (``exp(u)``) for very negative ``u``."""
    return xp.maximum(u, xp.zeros_like(u)) + xp.log1p(xp.exp(-xp.abs(u)))


def log_probabilities(logits: Any, targets: Sequence[int], kind: str = "softmax") -> Any:
    """``(B, T)`` log-probabilities of the ``targets`` columns of ``(B, K)`` logits.

    Parameters
    ----------
    logits : array
        Any array-API array (NumPy, torch, JAX, ...); compute in float32 or float64 (half
        precision is promoted to float32 first).
    targets : sequence of int
        Column indices.
    kind : {"softmax", "sigmoid"}
        Exclusive classes (softmax over the last axis) or independent outputs (sigmoid).
    """
    xp = namespace_of(logits)
    z = logits if logits.dtype in (xp.float32, xp.float64) else xp.astype(logits, xp.float32)
    columns = []
    for y in targets:
        zy = z[:, y]
        if kind == "sigmoid":
            columns.append(-softplus(xp, -zy))
            continue
        if int(z.shape[1]) == 1:
            columns.append(xp.zeros_like(zy))  # one exclusive class has probability 1
            continue
        others = xp.concat([z[:, :y], z[:, y + 1:]], axis=1)
        top = xp.max(others, axis=1)
        rest = top + xp.log(xp.sum(xp.exp(others - top[:, None]), axis=1))  # logsumexp over j != y
        columns.append(-softplus(xp, rest - zy))
    return xp.stack(columns, axis=1)


__all__ = ["log_probabilities", "softplus"]
