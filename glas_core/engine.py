"""The GLAS sweep: validate -> plan -> sweep -> fuse (Eq. 1-3), orchestration only."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ._array_api import device_of, namespace_of, no_grad_context, to_numpy
from ._validation import (
    DEFAULT_SPATIAL_AXES,
    check_input,
    check_layout,
    check_score_fn,
    insensitive_targets,
    named_axes,
    normalize_spatial_axes,
    resolve_baseline,
)
from .config import GLASConfig, RowLayout, SearchPlan, config_from
from .errors import fail
from .fusion import fuse
from .result import GLASResult
from .scores import PointValues, log_point_values, point_values
from .sweep import ExampleRows, score_rows

ScoreFn = Callable[[Any], Any]
#: ``explain_batch``'s score function: ``(batch)``, or ``(batch, owners)`` with ``with_owners=True``
BatchScoreFn = Callable[..., Any]
ProgressFn = Callable[[int, int], None]


def explain(
    score_fn: ScoreFn,
    x: Any,
    *,
    spatial_axes: Sequence[int] = DEFAULT_SPATIAL_AXES,
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
        One example, e.g. ``(C, T)`` (a series), ``(C, H, W)``, ``(H, W, C)``, ``(C, D, H, W)``
        or ``(C, T, H, W)`` (a video).
    spatial_axes : sequence of int
        The 1, 2 or 3 spatial axes of ``x`` (default ``(-2, -1)``; ``(-1,)`` for a ``(C, T)``
        series). Per-axis values (grid, sigma, point coordinates) follow these axes in increasing
        order. Left at the default, a spatial axis of at most 4 pixels beside a non-spatial axis at
        least 4 times as long (a channels-last image such as ``(16, 16, 3)``) is refused; name the
        axes to explain such an input.
    grid : int or tuple of int, optional
        ``k`` search points per axis, or one ``k`` per spatial axis, e.g. ``(8, 14, 14)`` for a
        video (None: 15, the paper's setting).
    sigma : float or triple, optional
        (light, shadow, spatial) scales in grid cells (None: ``DEFAULT_SIGMA`` = (5, 3, 6)); each
        entry of the triple may be a tuple with one scale per spatial axis (see :class:`GLASConfig`).
    sigma_px : float or triple, optional
        The scales in pixels instead, with the same per-axis rule. Required with ``points``.
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
    config = config_from(config, grid=grid, sigma=sigma, sigma_px=sigma_px, mode=mode, lam=lam,
                         batch_size=batch_size, points=points)
    axes, plan = _validated(xp, x, spatial_axes, config)
    with no_grad_context(x):
        rows = ExampleRows(xp, x, axes, plan, resolve_baseline(xp, baseline, x), config.batch_size)
        scores = score_rows(score_fn, xp, [rows], config.batch_size, progress, log_scores)[0]
        return _result(xp, scores, x, axes, plan, config, log_scores)


def explain_batch(
    score_fn: BatchScoreFn,
    xs: Any,
    *,
    spatial_axes: Sequence[int] = DEFAULT_SPATIAL_AXES,
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
    with_owners: bool = False,
) -> list[GLASResult]:
    """Explain several examples in one packed stream of forward passes.

    The rows of consecutive examples of the same shape share chunks, so every ``score_fn``
    call but the last gets exactly ``batch_size`` rows (N examples cost
    ``ceil(N * rows / batch_size)`` calls, not ``N * ceil(rows / batch_size)``); a chunk ends
    early only where the example shape changes. Each map equals :func:`explain` of that example alone,
    bit for bit, whenever ``score_fn`` scores each row independently of the others in its batch
    (an eval-mode model).

    Parameters
    ----------
    score_fn
        As in :func:`explain`; a batch may hold rows of two or more examples.
    xs : array or sequence of arrays
        ``(N, *example_shape)``, or a sequence of examples (their spatial sizes may differ).
    baseline : float or array
        One baseline for every example (a number, or an array broadcastable to one example),
        or one per example: an array of ``xs``'s shape or a sequence of N baselines.
    progress : callable, optional
        ``progress(done_rows, total_rows)`` over all examples.
    with_owners : bool
        Call ``score_fn(batch, owners)``, with ``owners`` the NumPy int64 ``(B,)`` index of each
        row's example in ``xs``: how a score function scores every example at its own targets.
    **others
        As in :func:`explain`; ``spatial_axes`` are axes of one example.

    Returns
    -------
    list of GLASResult
        One per example, in order.
    """
    check_score_fn(score_fn, progress)
    examples = _examples(xs)
    xp = namespace_of(examples[0])
    config = config_from(config, grid=grid, sigma=sigma, sigma_px=sigma_px, mode=mode, lam=lam,
                         batch_size=batch_size, points=points)
    baselines = _per_example_baselines(baseline, xs, len(examples))
    prepared = []
    for x in examples:
        if namespace_of(x) is not xp:
            raise fail("xs", "examples from different array libraries", "examples of one array library",
                       "convert them all to the same kind of array first")
        prepared.append((x, *_validated(xp, x, spatial_axes, config)))
    with no_grad_context(examples[0]):
        rows = [ExampleRows(xp, x, axes, plan, resolve_baseline(xp, b, x), config.batch_size)
                for (x, axes, plan), b in zip(prepared, baselines)]
        scores = score_rows(score_fn, xp, rows, config.batch_size, progress, log_scores, with_owners)
        return [_result(xp, s, x, axes, plan, config, log_scores) for s, (x, axes, plan) in zip(scores, prepared)]


def _validated(xp: Any, x: Any, spatial_axes: Sequence[int], config: GLASConfig) -> tuple[tuple[int, ...], SearchPlan]:
    """Check one example and resolve the settings for its spatial shape."""
    axes = normalize_spatial_axes(spatial_axes, x.ndim)
    check_layout(tuple(x.shape), axes, named=named_axes(spatial_axes))
    check_input(xp, x)
    return axes, config.resolve(tuple(int(x.shape[a]) for a in axes))


def _examples(xs: Any) -> list[Any]:
    """The examples of ``xs``: the first axis of an array, or the items of a list or tuple."""
    if isinstance(xs, (list, tuple)):
        examples = list(xs)
    elif hasattr(xs, "shape") and len(xs.shape) >= 1:
        examples = [xs[i, ...] for i in range(int(xs.shape[0]))]
    else:
        raise fail("xs", type(xs).__name__, "an array (N, *example_shape) or a list of examples",
                   "stack the examples, e.g. numpy.stack(images)")
    if not examples:
        raise fail("xs", "no examples", "at least one example", "pass one or more images")
    return examples


def _per_example_baselines(baseline: Any, xs: Any, n: int) -> list[Any]:
    """One baseline per example: a shared one repeated, or the N given."""
    if isinstance(baseline, (list, tuple)):
        if len(baseline) != n:
            raise fail("baseline", f"{len(baseline)} baselines", f"one baseline, or one per example ({n})",
                       "pass a single baseline or a list with one per example")
        return list(baseline)
    shape = getattr(baseline, "shape", None)
    if shape is not None and hasattr(xs, "shape") and tuple(shape) == tuple(xs.shape) and len(shape) >= 1:
        return [baseline[i, ...] for i in range(n)]
    return [baseline] * n


def _result(xp: Any, scores: Any, x: Any, axes: tuple[int, ...], plan: SearchPlan, config: GLASConfig,
            log_scores: bool) -> GLASResult:
    """Fuse a sweep's scores (Eq. 3) into a :class:`GLASResult`."""
    values, log_scale = sweep_values(xp, scores, plan.rows, config.lam, log_scores)
    ignored = insensitive_targets(xp, scores, log_scores)
    return finish(xp, values, log_scale, ignored, x, axes, plan, config, int(scores.shape[0]))


def sweep_values(xp: Any, scores: Any, rows: RowLayout, lam: float, log_scores: bool) -> tuple[PointValues, Any]:
    """Point values of a sweep's scores, from probabilities or log-probabilities (``log_scale`` or None)."""
    if log_scores:
        return log_point_values(xp, scores, rows, lam)
    return point_values(xp, scores, rows, lam), None


def finish(xp: Any, values: PointValues, log_scale: Any, ignored: Any, x: Any, axes: tuple[int, ...],
           plan: SearchPlan, config: GLASConfig, n_forward: int) -> GLASResult:
    """Eq. 3 over the plan's points, with a warning (and a zero map) where no evidence exists.

    Parameters
    ----------
    values : PointValues
        ``(T, P)`` values for every point of ``plan``.
    log_scale : array or None
        Per-target log scale of ``values.weight`` (log-probability sweeps), or None.
    ignored : array
        ``(T,)`` booleans: targets whose score no perturbation changed; their maps are zeroed.
    n_forward : int
        Rows the sweep scored.
    """
    light = values.light
    no_light = light is not None and (
        not bool(xp.all(xp.isfinite(log_scale))) if log_scale is not None else float(xp.max(light)) == 0.0)
    if no_light:
        warnings.warn(
            "every light score f_l (Eq. 1) is 0: the model gives the target no probability under any "
            "light mask, so the fused map is all zeros. Lights this small leave too little of the image; "
            "use a larger sigma, mode='shadow', or log-probabilities (log_scores=True, as the adapters do)",
            RuntimeWarning, stacklevel=4)
    saliency = fuse(xp, values.weight, plan, dtype=values.weight.dtype, device=device_of(x))
    if bool(xp.any(ignored)):
        which = [int(t) for t in np.nonzero(to_numpy(ignored))[0]]
        warnings.warn(
            f"the model's score of target(s) {which} is the same for every perturbed input (up to round-off), "
            "so their maps are all zeros: either the model ignores what GLAS perturbs (check that it reads "
            "its input and that the targets are the ones you meant), or its probability is saturated at 0 "
            "or 1 in this precision (score log-probabilities instead: log_scores=True, as the adapters do)",
            RuntimeWarning, stacklevel=4)
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
        n_forward=n_forward,
        config=config,
        log_scale=log_scale,
    )
