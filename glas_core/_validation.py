"""Argument checks at the public boundary, shared by explain, recursive GLAS, regions and metrics."""

from __future__ import annotations

import numbers
from typing import Any, Sequence

import numpy as np

from ._array_api import device_of, is_real_floating, namespace_of, to_numpy
from .errors import GLASError, fail

#: Scores may exceed [0, 1] by this much through floating-point rounding (e.g. a softmax in float16).
_RANGE_TOLERANCE = 1e-3


def check_score_fn(score_fn: Any, progress: Any) -> None:
    """Refuse a ``score_fn`` or ``progress`` that cannot be called."""
    if not callable(score_fn):
        raise fail("score_fn", type(score_fn).__name__, "a callable batch -> (B, T) scores",
                   "wrap the model, e.g. lambda b: softmax(model(b))[:, [target]]")
    if progress is not None and not callable(progress):
        raise fail("progress", type(progress).__name__, "None or a callable(done, total)",
                   "pass e.g. lambda done, total: print(done, total)")


def normalize_spatial_axes(spatial_axes: Sequence[int], ndim: int) -> tuple[int, ...]:
    """Validate spatial axes and return them non-negative and increasing."""
    fix = "use spatial_axes=(-2, -1) for (C, H, W), (0, 1) for (H, W, C), (-3, -2, -1) for volumes"
    if not isinstance(spatial_axes, (tuple, list)) or not all(
            isinstance(a, numbers.Integral) and not isinstance(a, bool) for a in spatial_axes):
        raise fail("spatial_axes", spatial_axes, "a tuple of 2 or 3 ints", fix)
    if len(spatial_axes) not in (2, 3):
        raise fail("spatial_axes", spatial_axes, "2 axes (images) or 3 axes (volumes)", fix)
    if any(a < -ndim or a >= ndim for a in spatial_axes):
        raise fail("spatial_axes", spatial_axes, f"axes of an input with {ndim} dimensions", fix)
    axes = sorted(int(a) % ndim for a in spatial_axes)
    if len(set(axes)) != len(axes):
        raise fail("spatial_axes", spatial_axes, "distinct axes", fix)
    return tuple(axes)


def check_input(xp: Any, x: Any) -> None:
    """Refuse non-floating and non-finite inputs (a NaN pixel would give a NaN map)."""
    if not is_real_floating(xp, x.dtype):
        raise fail("x", f"dtype {x.dtype}", "a real floating array",
                   "convert it, e.g. x.astype(float32) / 255 for 8-bit images")
    if not bool(xp.all(xp.isfinite(x))):
        raise fail("x", "an input containing NaN or inf", "finite values",
                   "clean the input (e.g. replace NaN with 0) before explaining it")


def resolve_baseline(xp: Any, baseline: Any, x: Any) -> Any:
    """Return the baseline as an array broadcast to ``x``, or None for the zero baseline."""
    if isinstance(baseline, numbers.Real) and not isinstance(baseline, bool):
        if not np.isfinite(float(baseline)):
            raise fail("baseline", baseline, "a finite number or array", "use baseline=0.0 (the paper)")
        if float(baseline) == 0.0:
            return None
        return xp.full(x.shape, float(baseline), dtype=x.dtype, device=device_of(x))
    try:
        host = to_numpy(baseline)
        shape = np.broadcast_shapes(host.shape, tuple(x.shape))
    except (TypeError, ValueError, GLASError):
        shape = None
        host = None
    if shape != tuple(x.shape) or host is None or not np.all(np.isfinite(host)):
        shown = getattr(baseline, "shape", type(baseline).__name__)
        raise fail("baseline", f"{shown}", f"a finite number or an array broadcastable to {tuple(x.shape)}",
                   "pass a scalar (e.g. 0.0) or an array of the input's shape (e.g. a blurred copy)")
    arr = xp.asarray(np.broadcast_to(host, tuple(x.shape)).copy(), dtype=x.dtype, device=device_of(x))
    return arr


def as_score_array(xp: Any, out: Any, rows: int, n_targets: int | None, sdtype: Any, device: Any) -> Any:
    """Bring one chunk of ``score_fn`` output into ``xp`` as ``(rows, T)`` of the score dtype."""
    shape = getattr(out, "shape", None)
    if shape is None:
        raise fail("score_fn output", type(out).__name__, f"an array of shape ({rows}, T)",
                   "return one row of target scores per perturbed input")
    try:
        same = namespace_of(out) is xp
    except GLASError:
        same = False
    if not same:
        out = xp.asarray(to_numpy(out), dtype=sdtype, device=device)
    elif out.dtype != sdtype:
        out = xp.astype(out, sdtype)
    if out.ndim == 1:
        out = xp.reshape(out, (-1, 1))
    if out.ndim != 2 or int(out.shape[0]) != rows:
        raise fail("score_fn output", f"shape {tuple(shape)}", f"shape ({rows}, T): one row per input of the batch",
                   "return (B, T) scores of the T targets; do not squeeze or transpose them")
    if n_targets is not None and int(out.shape[1]) != n_targets:
        raise fail("score_fn output", f"{int(out.shape[1])} targets in a later chunk",
                   f"the same number of targets ({n_targets}) for every chunk",
                   "select the same target columns on every call")
    return out


def validate_scores(xp: Any, scores: Any, log_scores: bool = False) -> None:
    """Refuse non-finite scores and scores outside [0, 1] (one device sync per sweep).

    Log-probabilities may be -inf (a probability of 0) but must be at most 0.
    """
    if log_scores:
        if bool(xp.any(xp.isnan(scores))) or float(xp.max(scores)) > _RANGE_TOLERANCE:
            bad = to_numpy(scores)
            shown = "NaN" if np.isnan(bad).any() else f"a maximum of {float(np.nanmax(bad)):.4g}"
            raise fail("score_fn output", shown, "log-probabilities (<= 0, -inf allowed)",
                       "return log_softmax(logits) or logsigmoid(logits); pass log_scores=False for probabilities")
        return
    if not bool(xp.all(xp.isfinite(scores))):
        bad = np.argwhere(~np.isfinite(to_numpy(scores)))[0]
        raise fail("score_fn output", f"a non-finite value at row {int(bad[0])}, target {int(bad[1])}",
                   "finite probabilities", "check the model for NaN/inf outputs on perturbed inputs "
                   "(e.g. a log of zero, or an unnormalised input)")
    lo, hi = float(xp.min(scores)), float(xp.max(scores))
    if lo < -_RANGE_TOLERANCE or hi > 1 + _RANGE_TOLERANCE:
        raise fail("score_fn output", f"values in [{lo:.4g}, {hi:.4g}]", "probabilities in [0, 1]",
                   "turn logits into probabilities first (softmax or sigmoid); the adapters do this "
                   "with probabilities='softmax'")
