"""Recursive GLAS (Algorithm 1): find further evidence and further instances.

As we read the garbled listing (docs/paper-readings.md, "RGLAS"): S is min-max normalised to [0, 1];
search points where S > t1 are removed; the image is dimmed, I <- I * (1 - S); O += S;
and the loop repeats while sqrt(mean(S) / P(y|I)) < t2, with P(y|I) on the updated image,
while points remain, for at most ``max_iter`` iterations.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Callable
from typing import Any

import numpy as np

from ._array_api import device_of, namespace_of, no_grad_context, score_dtype, to_numpy
from ._validation import as_score_array, normalize_spatial_axes, resolve_baseline, validate_scores
from .config import SETTINGS, config_from
from .engine import explain
from .errors import fail, quoted
from .light_reuse import LightState, RecordedScores, reusing_sweep
from .masks import dim_by_map
from .normalize import minmax_normalize
from .result import GLASResult, RecursiveResult, RGLASIteration
from .scores import fusion_weight


def explain_recursive(
    score_fn: Callable[[Any], Any],
    x: Any,
    *,
    t1: float = 0.8,
    t2: float = 5.0,
    max_iter: int = 5,
    stop: str = "paper",
    min_evidence: float = 0.1,
    reuse_tol: float | None = None,
    spatial_axes: tuple[int, ...] = (-2, -1),
    baseline: Any = 0.0,
    **kwargs: Any,
) -> RecursiveResult:
    """Recursive GLAS (the paper's Algorithm 1) for every target of ``score_fn``.

    The first iteration is one joint sweep for all targets; later iterations run per target,
    since each target dims the image with its own map.

    Parameters
    ----------
    score_fn, x, spatial_axes, baseline
        As in :func:`glas_core.explain`.
    t1 : float
        Points where the normalised map exceeds ``t1`` are removed (paper: 0.8).
    t2 : float
        Stop once ``sqrt(mean(S) / P(y|I)) >= t2`` (paper: 5).
    max_iter : int
        Upper bound on the number of iterations.
    stop : {"paper", "evidence"}
        ``"paper"``: Algorithm 1 as printed; every iteration's map is min-max normalised and
        added with weight 1. ``"evidence"``: each iteration after the first is weighed by its
        evidence, the largest Eq. 3 point weight ``f_l f_s`` of its sweep relative to the first
        iteration's, and the loop ends, adding nothing, at an iteration whose relative evidence is
        below ``min_evidence``. The paper's ``t2`` rule needs ``P(y|I)`` to fall below
        ``mean(S) / t2^2`` (about 0.01), which a model with few classes never reaches on a dimmed
        image, so the paper's loop runs to ``max_iter`` and adds background at full weight.
    min_evidence : float
        With ``stop="evidence"``: the relative evidence an iteration needs to count.
    reuse_tol : float or None
        None (default): every iteration sweeps every remaining point (Algorithm 1). A number in
        [0, 1) (mode "fusion" only): a point's light score is kept from an earlier iteration
        while the share of its light mask on pixels dimmed since then is at most ``reuse_tol``
        (see :mod:`glas_core.light_reuse`); 0.05 measured within 0.005 of the full loop's IoU
        curve, for 2-16 % fewer forward passes.
    **kwargs
        ``grid``, ``sigma``, ``sigma_px``, ``points``, ``mode``, ``lam``, ``batch_size``,
        ``config``, ``progress``, ``log_scores`` as in :func:`glas_core.explain`. Later
        iterations keep the first iteration's pixel scales, since the remaining points no
        longer form a grid.

    Returns
    -------
    RecursiveResult
    """
    if not isinstance(t1, numbers.Real) or not 0.0 < float(t1) < 1.0:
        raise fail("t1", quoted(t1), "a number in (0, 1)", "use t1=0.8 (the paper's threshold)")
    if not isinstance(t2, numbers.Real) or not float(t2) > 0 or not math.isfinite(float(t2)):
        raise fail("t2", quoted(t2), "a positive finite number", "use t2=5 (the paper's stop constant)")
    if not isinstance(max_iter, numbers.Integral) or isinstance(max_iter, bool) or max_iter < 1:
        raise fail("max_iter", quoted(max_iter), "a positive int", "use max_iter=5")
    if stop not in ("paper", "evidence"):
        raise fail("stop", quoted(stop), "'paper' or 'evidence'", "use stop='paper' (Algorithm 1 as printed)")
    if not isinstance(min_evidence, numbers.Real) or not 0.0 <= float(min_evidence) < 1.0:
        raise fail("min_evidence", quoted(min_evidence), "a number in [0, 1)", "use min_evidence=0.1")
    if reuse_tol is not None and (isinstance(reuse_tol, bool) or not isinstance(reuse_tol, numbers.Real)
                                  or not 0.0 <= float(reuse_tol) < 1.0):
        raise fail("reuse_tol", quoted(reuse_tol), "None or a number in [0, 1)",
                   "use reuse_tol=None (full sweeps) or e.g. reuse_tol=0.05")
    config = config_from(kwargs.pop("config", None), **{k: kwargs.pop(k) for k in SETTINGS if k in kwargs})
    if reuse_tol is not None and config.mode != "fusion":
        raise fail("reuse_tol", quoted(reuse_tol), f"None with mode={config.mode!r} (only fusion sweeps have "
                   "light scores to keep)", "drop reuse_tol, or use mode='fusion'")
    log_scores = bool(kwargs.get("log_scores", False))
    with no_grad_context(x):
        xp = namespace_of(x)
        recorded = None if reuse_tol is None else RecordedScores(score_fn, xp, x)
        first = explain(recorded or score_fn, x, spatial_axes=spatial_axes, baseline=baseline, config=config,
                        **kwargs)
        axes = normalize_spatial_axes(spatial_axes, x.ndim)
        later = dict(kwargs, spatial_axes=spatial_axes, baseline=baseline,
                     config=dataclasses.replace(config, grid=None, sigma_px=first.sigma_px))
        run = _TargetRun(xp, x, axes, resolve_baseline(xp, baseline, x), float(t1), float(t2), int(max_iter),
                         log_scores, None if stop == "paper" else float(min_evidence))
        if recorded is not None:
            run.reuse = (float(reuse_tol), recorded.scores(int(first.saliency.shape[0])))
        n_forward = first.n_forward
        maps, iterations, reasons = [], [], []
        for t in range(int(first.saliency.shape[0])):
            total, iters, reason, used = run(score_fn, t, first, later)
            n_forward += used
            maps.append(total)
            iterations.append(iters)
            reasons.append(reason)
    return RecursiveResult(saliency=xp.stack(maps, axis=0), iterations=iterations, stop_reasons=reasons,
                           n_forward=n_forward)


class _TargetRun:
    """The iterations of Algorithm 1 for one target column."""

    def __init__(self, xp: Any, x: Any, axes: tuple[int, ...], baseline: Any, t1: float, t2: float,
                 max_iter: int, log_scores: bool, min_evidence: float | None) -> None:
        self.xp, self.x, self.axes, self.baseline = xp, x, axes, baseline
        self.t1, self.t2, self.max_iter, self.log_scores = t1, t2, max_iter, log_scores
        self.min_evidence = min_evidence  # None: the paper's rule
        self.reuse: tuple[float, Any] | None = None  # (reuse_tol, the first sweep's raw scores)

    def __call__(self, score_fn: Callable[[Any], Any], t: int, first: GLASResult,
                 later: dict[str, Any]) -> tuple[Any, list[RGLASIteration], str, int]:
        xp = self.xp
        column = _column_fn(score_fn, t)
        image, result, col = self.x, first, t
        points = first.points
        total = None
        iters: list[RGLASIteration] = []
        used = 0
        first_evidence = _log_evidence(xp, first, t)
        state, reuse_tol = None, 0.0
        if self.reuse is not None:
            reuse_tol, first_scores = self.reuse
            spatial = tuple(int(self.x.shape[a]) for a in self.axes)
            state = LightState.of_first_sweep(xp, first_scores, t, int(points.shape[0]), spatial)
        while True:
            s = minmax_normalize(result.saliency[col, ...])
            weight = 1.0
            if self.min_evidence is not None and iters:
                weight = math.exp(min(_log_evidence(xp, result, col) - first_evidence, 0.0))
                if not weight >= self.min_evidence:
                    return total, iters, "no_evidence", used
            total = s if total is None else total + weight * s
            remove = _values_at(to_numpy(s), points) > self.t1
            image = dim_by_map(xp, image, s, self.axes, self.baseline)  # Algorithm 1, line 9
            after = self._score(column, image)
            used += 1
            mean_s = float(xp.mean(s))
            criterion = math.sqrt(mean_s / after) if after > 0 else math.inf
            iters.append(RGLASIteration(saliency=s, removed_points=points[remove], score_after=after,
                                        criterion=criterion, n_points=int(points.shape[0]), weight=weight))
            points = points[~remove]
            if state is not None:
                state.dimmed(to_numpy(s), remove)
            if not float(xp.max(s)) > 0:
                return total, iters, "flat", used  # nothing was dimmed: the next sweep would be the same
            if criterion >= self.t2:
                return total, iters, "t2", used
            if points.shape[0] == 0:
                return total, iters, "no_points", used
            if len(iters) >= self.max_iter:
                return total, iters, "max_iter", used
            later_config = dataclasses.replace(later["config"], points=points)
            if state is None:
                result = explain(column, image, **dict(later, config=later_config))
            else:
                result = reusing_sweep(column, xp, image, self.axes, later_config, state, reuse_tol, later)
            used += result.n_forward
            col = 0

    def _score(self, column: Callable[[Any], Any], image: Any) -> float:
        xp = self.xp
        out = as_score_array(xp, column(image[None, ...]), 1, 1, score_dtype(xp, image.dtype), device_of(image))
        validate_scores(xp, out, self.log_scores)
        return math.exp(float(out[0, 0])) if self.log_scores else float(out[0, 0])


def _log_evidence(xp: Any, result: GLASResult, col: int) -> float:
    """Log of the largest Eq. 3 point weight of one target of a sweep (-inf when all are 0)."""
    if result.log_scale is not None:
        return float(result.log_scale[col])
    light = None if result.light_scores is None else result.light_scores[col, :]
    shadow = None if result.shadow_scores is None else result.shadow_scores[col, :]
    peak = float(xp.max(fusion_weight(light, shadow, result.mode)))
    return math.log(peak) if peak > 0 else -math.inf


def _column_fn(score_fn: Callable[[Any], Any], t: int) -> Callable[[Any], Any]:
    def column(batch: Any) -> Any:
        out = score_fn(batch)
        if getattr(out, "ndim", 2) == 1:
            return out
        return out[:, t:t + 1]
    return column


def _values_at(s: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Map values at the pixels nearest to each point."""
    idx = np.clip(np.rint(points).astype(np.int64), 0, np.asarray(s.shape) - 1)
    return s[tuple(idx[:, a] for a in range(idx.shape[1]))]
