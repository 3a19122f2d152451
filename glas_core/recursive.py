"""Recursive GLAS (Algorithm 1): find further evidence and further instances.

As we read the garbled listing (docs/paper-readings.md, "RGLAS"): S is min-max normalised to [0, 1];
search points where S > t1 are removed; the image is dimmed, I <- I * (1 - S); O += S;
and the loop repeats while sqrt(mean(S) / P(y|I)) < t2, with P(y|I) on the updated image,
while points remain, for at most ``max_iter`` iterations.

The score of each dimmed image, taken for the stop rule, is also the clean row of the next
sweep (the same image), so it is scored once: a later iteration costs ``2 P + 1`` passes for
its ``P`` remaining points, its sweep's rows and the dimmed image after it.

As printed, the loop rarely separates two instances of a class (docs/benchmarks.md, section 3):
the default masks are broader than the objects, ``I * (1 - S)`` with a soft map darkens the
whole image, and the t2 rule fires only where the model's score collapses (never on a class the
model gives to dark images), so later iterations that find nothing new are added at full weight.
:data:`SEPARATE_INSTANCES` is the measured setting that does separate them.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Callable
from types import MappingProxyType
from typing import Any

import numpy as np

from ._array_api import device_of, namespace_of, no_grad_context, score_dtype, to_numpy
from ._validation import (
    DEFAULT_SPATIAL_AXES,
    as_score_array,
    normalize_spatial_axes,
    resolve_baseline,
    validate_scores,
)
from .config import SETTINGS, config_from
from .engine import explain
from .errors import fail, quoted
from .light_reuse import LightState, RecordedScores, reusing_sweep
from .masks import dim_by_map
from .normalize import minmax_normalize
from .result import GLASResult, RecursiveResult, RGLASIteration
from .scores import fusion_weight

#: The setting that separates two instances of a class on the recursive benchmark (docs/benchmarks.md,
#: section 3): masks of one grid cell, dimming only where the map exceeds t1, the evidence stop at
#: half the first iteration's evidence, at most two iterations (a third found a new instance in 1 of
#: 17 images and separated none more). Pass it as keywords, ``explain_recursive(score_fn, x,
#: **SEPARATE_INSTANCES)``, or a copy with changes, e.g. ``dict(SEPARATE_INSTANCES, max_iter=4)`` for
#: more instances; the adapters take the same keywords.
SEPARATE_INSTANCES = MappingProxyType(dict(sigma=1.0, dim="above_t1", stop="evidence", min_evidence=0.5,
                                           max_iter=2))


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
    dim: str = "map",
    spatial_axes: tuple[int, ...] = DEFAULT_SPATIAL_AXES,
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
    dim : {"map", "above_t1"}
        What each iteration dims the image by. ``"map"`` (default): the whole normalised map,
        ``I <- I * (1 - S)`` (Algorithm 1, line 9). ``"above_t1"``: ``S`` only where ``S > t1``
        (the points removed there too) and nothing elsewhere, so the next sweep sees the rest of
        the image, other instances included, undimmed. The whole soft map darkens every object
        each iteration: on the recursive benchmark at sigma 1 the instance not found yet kept
        69 % of its brightness after the first dimming and 3 % after the fifth (96 % after the
        first with ``"above_t1"``), and later iterations found nothing new.
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
        ``n_forward`` counts every row scored: the first sweep, each later sweep without its clean
        row (the previous dimmed image's score stands in for it), and each dimmed image.

    Examples
    --------
    Separating two instances of a class (the measured setting, :data:`SEPARATE_INSTANCES`):

    >>> res = explain_recursive(score_fn, x, **SEPARATE_INSTANCES)       # doctest: +SKIP
    >>> res = explain_recursive(score_fn, x, sigma=1.0, dim="above_t1", stop="evidence",
    ...                         min_evidence=0.5, max_iter=2)             # doctest: +SKIP
    """
    if not isinstance(t1, numbers.Real) or not 0.0 < float(t1) < 1.0:
        raise fail("t1", quoted(t1), "a number in (0, 1)", "use t1=0.8 (the paper's threshold)")
    if not isinstance(t2, numbers.Real) or not float(t2) > 0 or not math.isfinite(float(t2)):
        raise fail("t2", quoted(t2), "a positive finite number", "use t2=5 (the paper's stop constant)")
    if not isinstance(max_iter, numbers.Integral) or isinstance(max_iter, bool) or max_iter < 1:
        raise fail("max_iter", quoted(max_iter), "a positive int", "use max_iter=5")
    if stop not in ("paper", "evidence"):
        raise fail("stop", quoted(stop), "'paper' or 'evidence'", "use stop='paper' (Algorithm 1 as printed)")
    if dim not in ("map", "above_t1"):
        raise fail("dim", quoted(dim), "'map' or 'above_t1'", "use dim='map' (Algorithm 1: I * (1 - S))")
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
                         log_scores, None if stop == "paper" else float(min_evidence), dim == "above_t1")
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
                 max_iter: int, log_scores: bool, min_evidence: float | None, above_t1: bool = False) -> None:
        self.xp, self.x, self.axes, self.baseline = xp, x, axes, baseline
        self.t1, self.t2, self.max_iter, self.log_scores = t1, t2, max_iter, log_scores
        self.min_evidence = min_evidence  # None: the paper's rule
        self.reuse: tuple[float, Any] | None = None  # (reuse_tol, the first sweep's raw scores)
        self.above_t1 = above_t1  # dim by S only where S > t1 (else by the whole map, Algorithm 1)
        self.last: Any = None  # the (1, 1) score of the last dimmed image

    def __call__(self, score_fn: Callable[[Any], Any], t: int, first: GLASResult,
                 later: dict[str, Any]) -> tuple[Any, list[RGLASIteration], str, int]:
        xp = self.xp
        column = _KnownClean(_column_fn(score_fn, t), xp, self.x)
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
            shade = xp.where(s > self.t1, s, xp.zeros_like(s)) if self.above_t1 else s
            image = dim_by_map(xp, image, shade, self.axes, self.baseline)  # Algorithm 1, line 9
            after = self._score(column, image)
            used += 1
            mean_s = float(xp.mean(s))
            criterion = math.sqrt(mean_s / after) if after > 0 else math.inf
            iters.append(RGLASIteration(saliency=s, removed_points=points[remove], score_after=after,
                                        criterion=criterion, n_points=int(points.shape[0]), weight=weight))
            points = points[~remove]
            if state is not None:
                state.dimmed(to_numpy(shade), remove)
            if not float(xp.max(s)) > 0:
                return total, iters, "flat", used  # nothing was dimmed: the next sweep would be the same
            if criterion >= self.t2:
                return total, iters, "t2", used
            if points.shape[0] == 0:
                return total, iters, "no_points", used
            if len(iters) >= self.max_iter:
                return total, iters, "max_iter", used
            later_config = dataclasses.replace(later["config"], points=points)
            column.known = self.last  # the next sweep's clean row is the image just scored
            if state is None:
                result = explain(column, image, **dict(later, config=later_config))
            else:
                result = reusing_sweep(column, xp, image, self.axes, later_config, state, reuse_tol, later)
            used += result.n_forward - column.saved
            column.saved = 0
            col = 0

    def _score(self, column: Callable[[Any], Any], image: Any) -> float:
        xp = self.xp
        out = as_score_array(xp, column(image[None, ...]), 1, 1, score_dtype(xp, image.dtype), device_of(image))
        validate_scores(xp, out, self.log_scores)
        self.last = out
        return math.exp(float(out[0, 0])) if self.log_scores else float(out[0, 0])


class _KnownClean:
    """A target's score function that, once given ``known``, takes its next call's first row from it.

    Algorithm 1 scores the dimmed image once for the stop rule; the next sweep's first row is
    that same image (its clean row), so its score is reused instead of scored again: one forward
    pass saved per iteration, the same scores whenever the model scores each row on its own.
    """

    def __init__(self, column: Callable[[Any], Any], xp: Any, x: Any) -> None:
        self.column, self.xp = column, xp
        self.dtype, self.device = score_dtype(xp, x.dtype), device_of(x)
        self.known: Any = None  # (1, 1) score of the next call's first row
        self.saved = 0

    def __call__(self, batch: Any) -> Any:
        known, self.known = self.known, None
        if known is None:
            return self.column(batch)
        self.saved += 1
        n = int(batch.shape[0])
        if n == 1:
            return known
        rest = as_score_array(self.xp, self.column(batch[1:, ...]), n - 1, 1, self.dtype, self.device)
        return self.xp.concat([known, rest], axis=0)


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
