"""Model outputs -> the (B, T) scores the core fuses: written once, for every framework.

The score of target ``y`` is ``P(y | I)`` (Eq. 1 and 2 of the paper). With
``probabilities="softmax"`` or ``"sigmoid"`` the outputs are logits and the scores are their
LOG-probabilities (:func:`glas_core.log_probabilities`, exact for a class the model is sure
of, never in half precision), fused in the log domain (``log_scores=True``): each map is Eq. 3
divided by one positive factor per target (``GLASResult.log_scale``). With ``None`` (outputs
already are probabilities) or a callable ``outputs -> probabilities`` the scores are those
probabilities and the map is Eq. 3 itself.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

import glas_core
from glas_core._array_api import device_of, namespace_of
from glas_core.errors import fail, quoted

from .._common import warn_if_already_probabilities

#: how far a probability may stray outside [0, 1] by round-off before it is refused
PROBABILITY_TOLERANCE = 1e-3

_LOG_KINDS = ("softmax", "sigmoid")


def log_kind(probabilities: Any) -> str | None:
    """"softmax" or "sigmoid" when the outputs are logits scored in the log domain, else None."""
    return probabilities if isinstance(probabilities, str) and probabilities in _LOG_KINDS else None


def output_matrix(outputs: Any, rows: int) -> Any:
    """Check that a model returned one ``(rows, K)`` (or ``(rows,)``) array and return it 2-D."""
    if isinstance(outputs, (dict, list, tuple)) or not hasattr(outputs, "shape"):
        raise fail("model output", f"a {type(outputs).__name__}", f"one array of shape ({rows}, num_classes)",
                   "wrap the model so that it returns the logits tensor, e.g. lambda x: model(x).logits")
    shape = tuple(int(s) for s in outputs.shape)
    if len(shape) == 1 and shape[0] == rows:
        return namespace_of(outputs).reshape(outputs, (rows, 1))
    if len(shape) != 2 or shape[0] != rows or shape[1] == 0:
        raise fail("model output", f"shape {shape} for a batch of {rows} input(s)",
                   f"({rows}, num_classes) scores with num_classes >= 1, one row per input",
                   "wrap the model so that it returns one row of class scores per input (flatten extra axes or "
                   "select the head you explain)")
    return outputs


def _work(xp: Any, outputs: Any) -> Any:
    """Outputs in float32, float64 staying float64: never a half-precision softmax."""
    return outputs if outputs.dtype in (xp.float32, xp.float64) else xp.astype(outputs, xp.float32)


def called_probabilities(probabilities: Callable[[Any], Any], outputs: Any) -> Any:
    """The user's ``probabilities(outputs)``, checked to keep the outputs' shape, in their namespace."""
    xp = namespace_of(outputs)
    converted = probabilities(_work(xp, outputs))
    if not hasattr(converted, "shape"):
        raise fail("probabilities callable output", type(converted).__name__, "an array of the outputs' shape",
                   "return e.g. softmax(outputs) in the outputs' framework")
    if namespace_of(converted) is not xp:
        converted = xp.asarray(glas_core.to_numpy(converted), device=device_of(outputs))
    converted = xp.reshape(converted, (-1, 1)) if converted.ndim == 1 else converted
    if tuple(converted.shape) != tuple(outputs.shape):
        raise fail("probabilities callable output", f"shape {tuple(converted.shape)}",
                   f"the outputs' shape {tuple(outputs.shape)}", "apply an elementwise or last-axis normalisation")
    return _work(xp, converted)


class RowColumns:
    """Which column each row's targets read, as index arrays on the device the outputs will be on.

    Built before the model call where the device is known (a host-to-device copy after the
    forward pass is queued would make the host wait for it).

    Parameters
    ----------
    cols : numpy.ndarray
        ``(B, T)`` int64 class indices of each row.
    xp, device
        The namespace and device of the outputs.
    """

    def __init__(self, cols: np.ndarray, xp: Any, device: Any) -> None:
        used, where = np.unique(cols, return_inverse=True)
        self.shape = cols.shape
        self.device = device
        self.used = [int(c) for c in used]
        self.used_index = xp.asarray(used, device=device)
        flat = np.arange(cols.shape[0])[:, None] * len(used) + where.reshape(cols.shape)
        self.flat_index = xp.asarray(flat.ravel(), device=device)


def target_scores(outputs: Any, columns: RowColumns, probabilities: Any) -> Any:
    """``(B, T)`` scores of each row's own classes from ``(B, K)`` outputs, in their namespace.

    Parameters
    ----------
    outputs : array
        Checked model outputs (:func:`output_matrix`), any array-API namespace and device.
    columns : RowColumns
        Each row's classes, indexed on the outputs' device.
    probabilities : "softmax", "sigmoid", None or callable
        Log-probabilities of logits for the first two; probabilities for the others.
    """
    xp = namespace_of(outputs)
    kind = log_kind(probabilities)
    if kind is not None:
        table = glas_core.log_probabilities(outputs, columns.used, kind)
    else:
        probs = called_probabilities(probabilities, outputs) if callable(probabilities) else _work(xp, outputs)
        table = xp.take(probs, columns.used_index, axis=1)
    picked = xp.take(xp.reshape(table, (-1,)), columns.flat_index, axis=0)
    return xp.reshape(picked, columns.shape)


def check_clean_outputs(outputs: Any, probabilities: Any) -> np.ndarray:
    """Check the first outputs a call sees (any namespace); return each row's argmax class.

    Refuses outputs that are not finite, a softmax over a single output, and (with
    ``probabilities=None`` or a callable) probabilities outside [0, 1]; warns when
    ``probabilities="softmax"`` meets outputs that already are probabilities.
    """
    host = glas_core.to_numpy(outputs)
    if not np.all(np.isfinite(host)):
        raise non_finite_outputs()
    if host.shape[1] == 1 and probabilities == "softmax":
        raise fail("probabilities", "'softmax' (a softmax over one value is always 1)",
                   "'sigmoid' or None for a model with a single output per example",
                   "pass probabilities='sigmoid' for a logit or None for a probability")
    ranked = host
    if log_kind(probabilities) is None:
        if callable(probabilities):
            ranked = glas_core.to_numpy(called_probabilities(probabilities, outputs))
        lo, hi = float(np.min(ranked)), float(np.max(ranked))
        if not (lo >= -PROBABILITY_TOLERANCE and hi <= 1 + PROBABILITY_TOLERANCE):
            given = "None" if probabilities is None else "a callable"
            raise fail("probabilities", f"{given}, whose scores span [{lo:.4g}, {hi:.4g}]", "probabilities in [0, 1]",
                       "pass probabilities='softmax' for logits of exclusive classes or 'sigmoid' for multi-label "
                       "logits")
    warn_if_already_probabilities(host, probabilities)
    return np.argmax(ranked, axis=1)


def non_finite_outputs() -> Exception:
    """The refusal of a model whose outputs hold NaN or inf (seen directly, or as NaN log-probabilities)."""
    return fail("model output", "NaN or infinite values", "finite scores",
                "check the model for NaN/inf outputs on (perturbed) inputs: a log of zero, an unnormalised input, "
                "the input's dtype")


def probabilities_name(probabilities: Any) -> object:
    """How a ``probabilities`` setting is shown in messages (a value for :func:`~glas_core.errors.fail`)."""
    return "a callable" if callable(probabilities) else quoted(probabilities)
