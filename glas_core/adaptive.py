"""Adaptive coarse-to-fine search: finer scales sweep only where the coarser scale found evidence.

The coarsest scale is swept on the full grid. Each finer scale then lights and shadows only the
grid points whose value in the previous scale's map is at least ``keep`` times that map's peak
(for any target), widened by one grid cell, and reuses the clean score. Its map is Eq. 3 over
the full grid with ``v_i = 0`` at the points it did not evaluate: the coarser scale ruled them
out, so they contribute no evidence and none is invented for them. Where every point is kept,
the map equals the exhaustive sweep's exactly.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ._array_api import device_of, namespace_of, no_grad_context, to_numpy
from ._validation import check_score_fn, insensitive_targets, resolve_baseline
from .config import GLASConfig, RowLayout, SearchPlan
from .engine import _validated, finish, sweep_values
from .errors import fail, quoted
from .normalize import minmax_normalize
from .result import GLASResult
from .scores import PointValues
from .sweep import ExampleRows, score_rows

#: The default share of the previous map's peak a point needs to be swept again (chosen on
#: benchmarks/adaptive.py: the trade-off table is in docs/benchmarks.md).
DEFAULT_KEEP = 0.85


def selected_points(result: GLASResult, keep: float) -> np.ndarray:
    """Grid points whose value in ``result``'s map is at least ``keep`` of its peak, for any
    target, and their neighbours one grid cell away (so an edge of the evidence is not lost).

    Returns
    -------
    numpy.ndarray
        ``(P,)`` booleans over ``result.points`` (C order of ``result.grid``).
    """
    maps = to_numpy(result.saliency)
    idx = np.clip(np.rint(result.points).astype(np.int64), 0, np.asarray(maps.shape[1:]) - 1)
    at_points = maps[(slice(None),) + tuple(idx[:, a] for a in range(idx.shape[1]))]  # (T, P)
    chosen = np.zeros(result.points.shape[0], dtype=bool)
    for values in at_points:
        chosen |= np.asarray(minmax_normalize(values)) >= keep
    if not chosen.any():  # every map flat: nothing to refine, so keep everything
        chosen[:] = True
    wide = chosen.reshape(result.grid)
    for axis in range(wide.ndim):  # one axis at a time: the full 3 x 3 (x 3) neighbourhood
        grown = wide.copy()
        for shift in (-1, 1):
            moved = np.roll(wide, shift, axis=axis)
            edge: list[slice | int] = [slice(None)] * wide.ndim
            edge[axis] = 0 if shift == 1 else -1
            moved[tuple(edge)] = False  # no wrap-around
            grown |= moved
        wide = grown
    return wide.reshape(-1)


def explain_adaptive(score_fn: Callable[[Any], Any], x: Any, sigmas: Sequence[Any], *, keep: float = DEFAULT_KEEP,
                     in_pixels: bool = False, spatial_axes: Sequence[int] = (-2, -1), baseline: Any = 0.0,
                     progress: Callable[[int, int], None] | None = None, log_scores: bool = False,
                     config: GLASConfig) -> list[GLASResult]:
    """One map per scale, coarse to fine, sweeping each finer scale only where the last found evidence.

    Called by :func:`glas_core.explain_multiscale` with ``adaptive=True``; ``config`` holds every
    setting but the scale. ``n_forward`` of each result counts the rows that scale scored (the
    clean row only in the first).
    """
    check_score_fn(score_fn, progress)
    if not isinstance(keep, (int, float)) or isinstance(keep, bool) or not 0.0 < float(keep) <= 1.0:
        raise fail("keep", quoted(keep), "a share of the peak in (0, 1]", f"use keep={DEFAULT_KEEP}")
    xp = namespace_of(x)
    key = "sigma_px" if in_pixels else "sigma"
    results: list[GLASResult] = []
    clean_row = None
    with no_grad_context(x):
        base = None
        for s in sigmas:
            cfg = dataclasses.replace(config, sigma_px=None, **{key: s})
            axes, plan = _validated(xp, x, spatial_axes, cfg)
            if base is None:
                base = resolve_baseline(xp, baseline, x)
            chosen = np.ones(plan.n_points, dtype=bool) if not results else selected_points(results[-1], float(keep))
            result, clean_row = _sweep_subset(score_fn, xp, x, axes, plan, cfg, base, chosen, clean_row, progress,
                                              log_scores)
            results.append(result)
    return results


def _sweep_subset(score_fn: Callable[[Any], Any], xp: Any, x: Any, axes: tuple[int, ...], plan: SearchPlan,
                  config: GLASConfig, baseline: Any, chosen: np.ndarray, clean_row: Any,
                  progress: Callable[[int, int], None] | None, log_scores: bool) -> tuple[GLASResult, Any]:
    """Sweep the chosen points of ``plan`` (with the clean row unless it is given) and fuse over all points.

    Returns the result and the clean row's scores, for the next scale.
    """
    m = int(chosen.sum())
    sub = dataclasses.replace(plan, points=plan.points[chosen], grid=None,
                              axis_centers=tuple(plan.points[chosen][:, a] for a in range(plan.points.shape[1])),
                              rows=RowLayout(m, config.mode, clean=clean_row is None))
    rows = ExampleRows(xp, x, axes, sub, baseline, config.batch_size)
    swept = score_rows(score_fn, xp, [rows], config.batch_size, progress, log_scores)[0]
    scores = swept if clean_row is None else xp.concat([clean_row, swept], axis=0)
    values, log_scale = sweep_values(xp, scores, RowLayout(m, config.mode), config.lam, log_scores)
    full = _scatter(xp, values, chosen, device_of(x))
    result = finish(xp, full, log_scale, insensitive_targets(xp, scores, log_scores), x, axes, plan, config,
                    int(swept.shape[0]))
    return result, scores[0:1, :]


def _scatter(xp: Any, values: PointValues, chosen: np.ndarray, device: Any) -> PointValues:
    """Values of the chosen points spread over all points: weight 0 and NaN scores elsewhere."""
    if chosen.all():
        return values
    weight = values.weight
    select = np.zeros((int(chosen.sum()), chosen.size))
    select[np.arange(select.shape[0]), np.nonzero(chosen)[0]] = 1.0
    full_weight = xp.matmul(weight, xp.asarray(select, dtype=weight.dtype, device=device))

    def spread(a: Any) -> Any:
        if a is None:
            return None
        host = np.full((a.shape[0], chosen.size), np.nan, dtype=to_numpy(a).dtype)
        host[:, chosen] = to_numpy(a)
        return xp.asarray(host, device=device)

    return PointValues(clean=values.clean, light=spread(values.light), shadow=spread(values.shadow),
                       weight=full_weight)
