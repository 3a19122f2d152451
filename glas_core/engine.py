"""The GLAS sweep: validate -> plan -> sweep -> fuse (Eq. 1-3), orchestration only."""

from __future__ import annotations

import warnings
from typing import Any, Callable, Sequence

import numpy as np

from ._array_api import device_of, namespace_of, no_grad_context, score_dtype, to_numpy
from ._validation import (as_score_array, check_input, check_layout, check_score_fn, insensitive_targets,
                          normalize_spatial_axes, resolve_baseline, validate_scores)
from .config import GLASConfig, SearchPlan, config_from
from .fusion import fuse
from .masks import MaskBank, gaussian_profiles, perturb, perturbation_source, shadow_masks
from .result import GLASResult
from .scores import log_point_values, point_values

ScoreFn = Callable[[Any], Any]
ProgressFn = Callable[[int, int], None]


def explain(
    score_fn: ScoreFn,
    x: Any,
    *,
    spatial_axes: Sequence[int] = (-2, -1),
    grid: int | Sequence[int] | None = None,
    sigma: Any = None,
    sigma_px: Any = None,
    mode: str | None = None,
    lam: float | None = None,
    points: Any = None,
    baseline: Any = 0.0,
    batch_size: int | None = None,
    progress: ProgressFn | None = None,
    config: GLASConfig | None = None,
    log_scores: bool = False,
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
        ``k`` search points per axis (None: 15, the paper's setting).
    sigma : float or (float, float, float), optional
        (light, shadow, spatial) scales in grid cells (None: ``DEFAULT_SIGMA`` = (5, 3, 6)).
    sigma_px : float or triple, optional
        The scales in pixels instead; each entry may be per-axis. Required with ``points``.
    mode : {"fusion", "light", "shadow"}, optional
        Eq. 3 weight (None: "fusion"): ``f_l f_s`` (the paper's GLAS), ``f_l`` or ``f_s`` (Table 2 ablation).
        The ablation modes skip the rows they do not need.
    lam : float, optional
        Lambda of Eq. 2 (None: 1e-5).
    points : array, optional
        Custom search points ``(P, n_spatial)`` in pixel coordinates (e.g. atlas centroids).
    baseline : float or array
        Perturbation baseline ``b``: rows are ``b + (x - b) * M`` (the paper is ``b = 0``).
    batch_size : int, optional
        Rows per ``score_fn`` call (None: 64).
    progress : callable, optional
        ``progress(done_rows, total_rows)`` after every chunk.
    config : GLASConfig, optional
        All settings at once (grid, sigma, sigma_px, mode, lam, batch_size, points); then
        none of those keywords may be given.
    log_scores : bool
        True when ``score_fn`` returns log-probabilities (``log_softmax`` of the logits). Eq. 1-3
        are then evaluated in the log domain and each target's map is scaled by its largest point
        weight (``result.log_scale``), so an over-confident model whose probabilities underflow
        under the masks still gets an informative map. The adapters do this.

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
    check_score_fn(score_fn, progress)
    xp = namespace_of(x)
    axes = normalize_spatial_axes(spatial_axes, x.ndim)
    check_layout(tuple(x.shape), axes)
    check_input(xp, x)
    config = config_from(config, grid=grid, sigma=sigma, sigma_px=sigma_px, mode=mode, lam=lam,
                         batch_size=batch_size, points=points)
    plan = config.resolve(tuple(int(x.shape[a]) for a in axes))
    with no_grad_context(x):
        baseline_arr = resolve_baseline(xp, baseline, x)
        scores = sweep(score_fn, xp, x, axes, plan, config.batch_size, baseline_arr, progress, log_scores)
        return _result(xp, scores, x, axes, plan, config, log_scores)


def sweep(score_fn: ScoreFn, xp: Any, x: Any, axes: tuple[int, ...], plan: SearchPlan, batch_size: int,
          baseline: Any, progress: ProgressFn | None, log_scores: bool = False) -> Any:
    """Score every row of the plan's :class:`~glas_core.config.RowLayout`, ``batch_size`` rows at a time.

    Light rows are ``b + (x - b) * G`` (Eq. 1), shadow rows ``b + (x - b) * (1 - G)`` (Eq. 2).

    Returns
    -------
    array
        ``(rows, T)`` scores in the score dtype (float32, or float64 for float64 inputs).
    """
    device = device_of(x)
    sdtype = score_dtype(xp, x.dtype)
    spatial = plan.spatial_shape
    mask_shape = tuple(int(x.shape[i]) if i in axes else 1 for i in range(x.ndim))
    sig_light, sig_shadow, _ = plan.sigma_px

    def bank(sig: tuple[float, ...]) -> MaskBank:
        profiles = [gaussian_profiles(xp, plan.axis_centers[a], spatial[a], sig[a], denominator=2.0, dtype=x.dtype,
                                      device=device) for a in range(len(spatial))]
        return MaskBank(xp, profiles, plan.grid)

    rows = plan.rows
    light = bank(sig_light) if rows.has_light else None
    shadow = bank(sig_shadow) if rows.has_shadow else None
    total = rows.n_rows
    source = perturbation_source(xp, x, baseline, min(batch_size, total))
    chunks: list[Any] = []
    n_targets: int | None = None
    for start in range(0, total, batch_size):
        stop = min(start + batch_size, total)
        parts = []
        for kind, seg in rows.segments():
            lo, hi = max(start, seg.start) - seg.start, min(stop, seg.stop) - seg.start
            if lo < hi:
                if kind == "clean":
                    parts.append(xp.ones((1,) + spatial, dtype=x.dtype, device=device))
                elif kind == "light":
                    parts.append(light.masks(lo, hi))
                else:
                    parts.append(shadow_masks(shadow.masks(lo, hi)))
        masks = parts[0] if len(parts) == 1 else xp.concat(parts, axis=0)
        out = score_fn(perturb(xp, source, masks, mask_shape, baseline))
        out = as_score_array(xp, out, stop - start, n_targets, sdtype, device)
        n_targets = int(out.shape[1])
        chunks.append(out)
        if progress is not None:
            progress(stop, total)
    scores = chunks[0] if len(chunks) == 1 else xp.concat(chunks, axis=0)
    validate_scores(xp, scores, log_scores)
    return scores


def _result(xp: Any, scores: Any, x: Any, axes: tuple[int, ...], plan: SearchPlan, config: GLASConfig,
            log_scores: bool) -> GLASResult:
    """Fuse a sweep's scores (Eq. 3) into a :class:`GLASResult`."""
    log_scale = None
    if log_scores:
        values, log_scale = log_point_values(xp, scores, plan.rows, config.lam)
    else:
        values = point_values(xp, scores, plan.rows, config.lam)
    no_light = values.light is not None and (
        not bool(xp.all(xp.isfinite(log_scale))) if log_scores else float(xp.max(values.light)) == 0.0)
    if no_light:
        warnings.warn(
            "every light score f_l (Eq. 1) is 0: the model gives the target no probability under any "
            "light mask, so the fused map is all zeros. Lights this small leave too little of the image; "
            "use a larger sigma, mode='shadow', or log-probabilities (log_scores=True, as the adapters do)",
            RuntimeWarning, stacklevel=3)
    saliency = fuse(xp, values.weight, plan, dtype=scores.dtype, device=device_of(x))
    ignored = insensitive_targets(xp, scores, log_scores)
    if bool(xp.any(ignored)):
        which = [int(t) for t in np.nonzero(to_numpy(ignored))[0]]
        warnings.warn(
            f"the model's score of target(s) {which} is the same for every perturbed input (up to round-off): "
            "it ignores what GLAS perturbs, so their maps are all zeros. Check that the model reads its "
            "input (e.g. not a constant or a cached output) and that the targets are the ones you meant",
            RuntimeWarning, stacklevel=3)
        keep = xp.reshape(xp.astype(~ignored, saliency.dtype), (-1,) + (1,) * (saliency.ndim - 1))
        saliency = saliency * keep
    return GLASResult(
        saliency=saliency,
        clean_scores=values.clean,
        light_scores=values.light,
        shadow_scores=values.shadow,
        points=plan.points,
        grid=plan.grid,
        sigma_px=plan.sigma_px,
        spatial_axes=axes,
        n_forward=int(scores.shape[0]),
        config=config,
        log_scale=log_scale,
    )
