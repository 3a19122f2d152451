"""The GLAS sweep: stream perturbed chunks through ``score_fn`` and fuse (Eq. 1-3)."""

from __future__ import annotations

import numbers
import warnings
from typing import Any, Callable, Sequence

import numpy as np

from ._array_api import device_of, is_real_floating, namespace_of, no_grad_context, score_dtype, to_numpy
from .config import DEFAULT_GRID, DEFAULT_SIGMA, GLASConfig, SearchPlan
from .errors import GLASError, fail
from .fusion import fuse_grid, fuse_points
from .masks import MaskBank, gaussian_profiles, perturb, perturbation_source
from .points import grid_axis_centers
from .result import GLASResult

ScoreFn = Callable[[Any], Any]
ProgressFn = Callable[[int, int], None]

#: Scores may exceed [0, 1] by this much through floating-point rounding (e.g. a softmax in float16).
_RANGE_TOLERANCE = 1e-3


def explain(
    score_fn: ScoreFn,
    x: Any,
    *,
    spatial_axes: Sequence[int] = (-2, -1),
    grid: int | Sequence[int] | None = None,
    sigma: Any = None,
    sigma_px: Any = None,
    mode: str = "fusion",
    lam: float = 1e-5,
    points: Any = None,
    baseline: Any = 0.0,
    batch_size: int = 64,
    progress: ProgressFn | None = None,
) -> GLASResult:
    """Explain one example with GLAS for every target ``score_fn`` returns, in one sweep.

    Row 0 of the sweep is the clean input, then one light row ``I * G(mu_i, sigma_l)`` per
    search point (Eq. 1), then one shadow row ``I * (1 - G(mu_i, sigma_s))`` per point
    (Eq. 2); their scores are fused with Eq. 3. Rows are built and scored ``batch_size`` at a
    time, so memory does not grow with the number of points.

    Parameters
    ----------
    score_fn : callable
        ``score_fn(batch) -> (B, T)`` probabilities in [0, 1] of T targets, for a batch
        ``(B, *x.shape)`` in ``x``'s namespace, device and dtype. A ``(B,)`` output is one target.
    x : array
        One example, e.g. ``(C, H, W)``, ``(H, W, C)`` or ``(C, D, H, W)``.
    spatial_axes : sequence of int
        The 2 or 3 spatial axes of ``x``. Per-axis values (grid, sigma, point coordinates)
        follow these axes in increasing order.
    grid : int or tuple of int, optional
        ``k`` search points per axis (default 15, the paper's setting).
    sigma : float or (float, float, float), optional
        (light, shadow, spatial) scales in grid cells (default ``DEFAULT_SIGMA`` = (5, 3, 6)).
    sigma_px : float or triple, optional
        The scales in pixels instead; each entry may be per-axis. Required with ``points``.
    mode : {"fusion", "light", "shadow"}
        Eq. 3 weight: ``f_l f_s`` (the paper's GLAS), ``f_l`` or ``f_s`` (Table 2 ablation).
        The ablation modes skip the rows they do not need.
    lam : float
        Lambda of Eq. 2.
    points : array, optional
        Custom search points ``(P, n_spatial)`` in pixel coordinates (e.g. atlas centroids).
    baseline : float or array
        Perturbation baseline ``b``: rows are ``b + (x - b) * M`` (the paper is ``b = 0``).
    batch_size : int
        Rows per ``score_fn`` call.
    progress : callable, optional
        ``progress(done_rows, total_rows)`` after every chunk.

    Returns
    -------
    GLASResult
        ``saliency`` of shape ``(T, *spatial)`` in ``x``'s namespace and device.

    Raises
    ------
    GLASError
        For bad arguments, and for a ``score_fn`` that returns the wrong shape, non-finite
        values or values outside [0, 1].
    """
    if not callable(score_fn):
        raise fail("score_fn", type(score_fn).__name__, "a callable batch -> (B, T) scores",
                   "wrap the model, e.g. lambda b: softmax(model(b))[:, [target]]")
    if progress is not None and not callable(progress):
        raise fail("progress", type(progress).__name__, "None or a callable(done, total)",
                   "pass e.g. lambda done, total: print(done, total)")
    xp = namespace_of(x)
    axes = normalize_spatial_axes(spatial_axes, x.ndim)
    check_input(xp, x)
    if grid is not None and points is not None:
        raise fail("grid", grid, "None when custom points are given",
                   "pass either grid= (a regular search) or points= (custom search points), not both")
    config = GLASConfig(
        grid=DEFAULT_GRID if grid is None else grid,
        sigma=DEFAULT_SIGMA if sigma is None else sigma,
        sigma_px=sigma_px,
        mode=mode,
        lam=lam,
        batch_size=batch_size,
        points=None if points is None else to_numpy(points),
    )
    spatial_shape = tuple(int(x.shape[a]) for a in axes)
    plan = config.resolve(spatial_shape)
    with no_grad_context(x):
        baseline_arr = resolve_baseline(xp, baseline, x)
        scores = _sweep(score_fn, xp, x, axes, plan, config, baseline_arr, progress)
        return _fuse(xp, scores, x, axes, plan, config)


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


def _row_segments(mode: str, n_points: int) -> list[tuple[str, int]]:
    segments = [("clean", 1)]
    if mode in ("fusion", "light"):
        segments.append(("light", n_points))
    if mode in ("fusion", "shadow"):
        segments.append(("shadow", n_points))
    return segments


def _sweep(score_fn: ScoreFn, xp: Any, x: Any, axes: tuple[int, ...], plan: SearchPlan,
           config: GLASConfig, baseline: Any, progress: ProgressFn | None) -> Any:
    """Score every row of the sweep; returns ``(rows, T)`` scores in the score dtype."""
    device = device_of(x)
    sdtype = score_dtype(xp, x.dtype)
    spatial = tuple(int(x.shape[a]) for a in axes)
    mask_shape = tuple(int(x.shape[i]) if i in axes else 1 for i in range(x.ndim))
    sig_light, sig_shadow, _ = plan.sigma_px

    centers = _mask_centers(plan, spatial)

    def bank(sig: tuple[float, ...]) -> MaskBank:
        profiles = [gaussian_profiles(xp, centers[a], spatial[a], sig[a], denominator=2.0, dtype=x.dtype,
                                      device=device) for a in range(len(spatial))]
        return MaskBank(xp, profiles, plan.grid)

    segments = _row_segments(config.mode, plan.n_points)
    light = bank(sig_light) if config.mode != "shadow" else None
    shadow = bank(sig_shadow) if config.mode != "light" else None
    total = sum(count for _, count in segments)
    source = perturbation_source(xp, x, baseline, min(config.batch_size, total))
    chunks: list[Any] = []
    n_targets: int | None = None
    for start in range(0, total, config.batch_size):
        stop = min(start + config.batch_size, total)
        parts = []
        offset = 0
        for kind, count in segments:
            lo, hi = max(start, offset) - offset, min(stop, offset + count) - offset
            if lo < hi:
                if kind == "clean":
                    parts.append(xp.ones((1,) + spatial, dtype=x.dtype, device=device))
                elif kind == "light":
                    parts.append(light.masks(lo, hi))
                else:
                    parts.append(1 - shadow.masks(lo, hi))
            offset += count
        masks = parts[0] if len(parts) == 1 else xp.concat(parts, axis=0)
        out = score_fn(perturb(xp, source, masks, mask_shape, baseline))
        out = as_score_array(xp, out, stop - start, n_targets, sdtype, device)
        n_targets = int(out.shape[1])
        chunks.append(out)
        if progress is not None:
            progress(stop, total)
    scores = chunks[0] if len(chunks) == 1 else xp.concat(chunks, axis=0)
    validate_scores(xp, scores)
    return scores


def _mask_centers(plan: SearchPlan, spatial: tuple[int, ...]) -> list[np.ndarray]:
    """Per-axis centres of the 1-D Gaussians the masks are built from.

    A grid needs only ``k_a`` distinct 1-D Gaussians per axis, so profile memory stays
    ``O(k n)`` and the sweep's memory is set by ``batch_size``, not by the number of points.
    """
    if plan.grid is not None:
        return [grid_axis_centers(spatial[a], plan.grid[a]) for a in range(len(spatial))]
    return [plan.points[:, a] for a in range(len(spatial))]


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


def validate_scores(xp: Any, scores: Any) -> None:
    """Refuse non-finite scores and scores outside [0, 1] (one device sync per sweep)."""
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


def point_values(xp: Any, scores: Any, mode: str, n_points: int, lam: float) -> tuple[Any, Any, Any, Any]:
    """Split sweep scores into clean, f_l (Eq. 1), f_s (Eq. 2) and the Eq. 3 weights ``v``."""
    clean = scores[0, :]
    row = 1
    light = shadow = None
    if mode in ("fusion", "light"):
        light = xp.permute_dims(scores[row:row + n_points, :], (1, 0))
        row += n_points
    if mode in ("fusion", "shadow"):
        shadow = xp.abs(clean[:, None] - xp.permute_dims(scores[row:row + n_points, :], (1, 0))) + lam
    if mode == "fusion":
        values = light * shadow
    else:
        values = light if mode == "light" else shadow
    return clean, light, shadow, values


def _fuse(xp: Any, scores: Any, x: Any, axes: tuple[int, ...], plan: SearchPlan, config: GLASConfig) -> GLASResult:
    device = device_of(x)
    sdtype = scores.dtype
    spatial = tuple(int(x.shape[a]) for a in axes)
    clean, light, shadow, values = point_values(xp, scores, config.mode, plan.n_points, config.lam)
    if light is not None and float(xp.max(light)) == 0.0:
        warnings.warn(
            "every light score f_l (Eq. 1) is 0: the model gives the target no probability under any "
            "light mask, so the fused map is all zeros. Lights this small leave too little of the image; "
            "use a larger sigma, or mode='shadow'", RuntimeWarning, stacklevel=3)
    sig_spatial = plan.sigma_px[2]
    if plan.grid is not None:
        weights = [gaussian_profiles(xp, grid_axis_centers(spatial[a], plan.grid[a]), spatial[a], sig_spatial[a],
                                     denominator=1.0, dtype=sdtype, device=device) for a in range(len(spatial))]
        saliency = fuse_grid(xp, values, plan.grid, weights)
    else:
        weights = [gaussian_profiles(xp, plan.points[:, a], spatial[a], sig_spatial[a], denominator=1.0,
                                     dtype=sdtype, device=device) for a in range(len(spatial))]
        saliency = fuse_points(xp, values, weights)
    return GLASResult(
        saliency=saliency,
        clean_scores=clean,
        light_scores=light,
        shadow_scores=shadow,
        points=plan.points,
        grid=plan.grid,
        sigma_px=plan.sigma_px,
        spatial_axes=axes,
        n_forward=int(scores.shape[0]),
        config=config,
    )
