"""Argument checks at the public boundary, shared by explain, recursive GLAS, regions and metrics."""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np

from ._array_api import device_of, is_real_floating, namespace_of, to_numpy
from .errors import GLASError, fail, quoted

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
    """Validate 1, 2 or 3 spatial axes and return them non-negative and increasing.

    One axis is a signal (a time series ``(C, T)``), two an image, three a volume or a video
    ``(C, T, H, W)``; the Gaussians of Eq. 1-3 are products of one 1-D Gaussian per axis, so
    nothing else changes with the number of axes.
    """
    fix = ("use spatial_axes=(-2, -1) for (C, H, W), (0, 1) for (H, W, C), (-1,) for (C, T) series, "
           "(-3, -2, -1) for volumes and (C, T, H, W) videos")
    if not isinstance(spatial_axes, (tuple, list)) or not all(
            isinstance(a, numbers.Integral) and not isinstance(a, bool) for a in spatial_axes):
        raise fail("spatial_axes", quoted(spatial_axes), "a tuple of 1, 2 or 3 ints", fix)
    if len(spatial_axes) not in (1, 2, 3):
        raise fail("spatial_axes", quoted(spatial_axes), "1 axis (signals), 2 axes (images) or 3 axes "
                   "(volumes, videos)", fix)
    if any(a < -ndim or a >= ndim for a in spatial_axes):
        raise fail("spatial_axes", quoted(spatial_axes), f"axes of an input with {ndim} dimensions", fix)
    axes = sorted(int(a) % ndim for a in spatial_axes)
    if len(set(axes)) != len(axes):
        raise fail("spatial_axes", quoted(spatial_axes), "distinct axes", fix)
    return tuple(axes)


def insensitive_targets(xp: Any, scores: Any, log_scores: bool) -> Any:
    """``(T,)`` booleans: targets whose every perturbed score equals the clean score up to round-off.

    Such a model ignores its input (or the part GLAS perturbs), or its score is saturated in
    this precision; Eq. 3 would still draw a blob from the kernel alone, so the engine returns an
    all-zero map for it instead, with a warning. Round-off is relative to the scores' size, for
    probabilities and log-probabilities alike: 1e-20 against 3e-19 is a real change.
    """
    clean = scores[0:1, :]
    same = scores == clean  # also -inf == -inf, whose difference would be NaN
    zero = xp.zeros_like(scores)
    spread = xp.max(xp.abs(xp.where(same, zero, scores) - xp.where(same, zero, clean + zero)), axis=0)
    finite = xp.where(xp.isfinite(scores), scores, zero)
    scale = xp.max(xp.abs(finite), axis=0)
    eps = 4 * float(xp.finfo(scores.dtype).eps)
    return spread <= eps * scale


#: A spatial axis this small next to a non-spatial axis this many times larger is a channel axis.
_CHANNEL_SIZES = (1, 3, 4)
_CHANNEL_RATIO = 8
#: With the default spatial axes, a spatial axis of at most this many pixels beside a non-spatial axis
#: at least ``_DEFAULT_AXES_RATIO`` times as long is taken for channels too.
_SHORT_AXIS = 4
_DEFAULT_AXES_RATIO = 4
#: Per number of spatial axes: the channels-last and channels-first layouts named in a refusal.
_LAYOUTS = {1: ("(T, C) series", "for (C, T) pass spatial_axes=(-1,) with the channels first"),
            2: ("(H, W, C) images", "for (C, H, W) keep spatial_axes=(-2, -1) and move the channels first"),
            3: ("(D, H, W, C) volumes", "for (C, D, H, W) pass spatial_axes=(-3, -2, -1) with the channels first")}


class _DefaultAxes(tuple):
    """The default spatial axes ``(-2, -1)``: a caller who names ``spatial_axes`` passes a plain tuple."""

    __slots__ = ()


#: The default ``spatial_axes`` of :func:`glas_core.explain` and :func:`glas_core.explain_recursive`.
DEFAULT_SPATIAL_AXES: tuple[int, ...] = _DefaultAxes((-2, -1))


def named_axes(spatial_axes: Any) -> bool:
    """Whether the caller named ``spatial_axes`` (anything but the untouched default)."""
    return not isinstance(spatial_axes, _DefaultAxes)


def check_layout(shape: Sequence[int], axes: tuple[int, ...], named: bool = True) -> None:
    """Refuse spatial axes that are evidently channels: ``(H, W, C)`` explained as ``(C, H, W)``.

    A "spatial" axis of 1, 3 or 4 pixels beside a non-spatial axis at least 8 times larger is
    the colour axis of an image in the other layout; explained as given, the map would be
    computed over the wrong axes and still look plausible. When the caller left ``spatial_axes``
    at its default (``named=False``), a spatial axis of at most 4 pixels beside a non-spatial
    axis at least 4 times as long is refused as well: a small channels-last image such as
    ``(16, 16, 3)`` would otherwise get a ``(T, 16, 3)`` map whenever the grid fits the colour
    axis. A ``(C, H, W)`` image never trips it (its non-spatial axis is the short one); naming
    ``spatial_axes`` explicitly accepts any other genuinely thin input.
    """
    shape = tuple(int(n) for n in shape)
    others = [shape[i] for i in range(len(shape)) if i not in axes]
    channels_last = tuple(range(len(shape) - 1 - len(axes), len(shape) - 1))
    last, first = _LAYOUTS[len(axes)]
    for a in axes:
        n = shape[a]
        if n in _CHANNEL_SIZES and others and max(others) >= _CHANNEL_RATIO * n:
            what, holds = ("a channel axis", "the axis that holds the series' time steps") if len(axes) == 1 \
                else ("a colour axis", "the axes that hold the image's pixels")
            raise fail("spatial_axes", f"{axes} for an input of shape {shape}, whose axis {a} of size {n} "
                       f"looks like {what}", holds, f"for channels-last {last} pass spatial_axes={channels_last}; "
                       + first)
        if not named and n <= _SHORT_AXIS and others and max(others) >= _DEFAULT_AXES_RATIO * n:
            raise fail("spatial_axes", f"the default (-2, -1), i.e. {axes}, for an input of shape {shape}, whose "
                       f"axis {a} of {n} pixel(s) beside a non-spatial axis of {max(others)} looks like a colour "
                       "axis", "the axes that hold the image's pixels, named explicitly when one of them is this "
                       "short", f"for channels-last (H, W, C) images pass spatial_axes={channels_last}; for a "
                       f"(C, T) series pass spatial_axes=(-1,); if axis {a} really is space, pass "
                       f"spatial_axes={axes}")


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
            raise fail("baseline", quoted(baseline), "a finite number or array", "use baseline=0.0 (the paper)")
        if float(baseline) == 0.0:
            return None
        return xp.full(x.shape, float(baseline), dtype=x.dtype, device=device_of(x))
    try:
        host = to_numpy(baseline)
        shape = np.broadcast_shapes(host.shape, tuple(x.shape))
    except (TypeError, ValueError, GLASError):
        shape = None
        host = None
    if host is not None and host.dtype.kind not in "biuf":
        host = None
    if shape != tuple(x.shape) or host is None or not np.all(np.isfinite(host)):
        shown = f"shape {baseline.shape}" if hasattr(baseline, "shape") else quoted(baseline)
        raise fail("baseline", shown, f"a finite number or an array broadcastable to {tuple(x.shape)}",
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
    if out.ndim != 2 or int(out.shape[0]) != rows or int(out.shape[1]) == 0:
        raise fail("score_fn output", f"shape {tuple(shape)}",
                   f"shape ({rows}, T) with T >= 1: one row per input of the batch, one column per target",
                   "return (B, T) scores of the T targets; do not squeeze, transpose or select no column")
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
