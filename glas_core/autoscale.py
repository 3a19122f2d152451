"""sigma chosen per image and target: the finest scale whose map is still informative.

The scales are searched coarse to fine with the adaptive search (:mod:`glas_core.adaptive`), so
the finer sweeps cost only the points near the evidence. A scale is informative for a target when
its best shadow removes a clear share of the clean probability,
``max_i |P(y|I) - P(y|I * (1 - G_i))| >= min_drop * P(y|I)``: below that, f_s is the lambda floor
(or round-off) everywhere and Eq. 3 only draws the kernel. The coarsest scale is the fallback.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ._array_api import namespace_of, to_numpy
from .errors import fail, quoted
from .multiscale import explain_multiscale
from .result import GLASResult

#: Scales (grid cells) searched by default, coarse to fine.
AUTO_SIGMAS = (5.0, 3.0, 2.0, 1.0)
#: The share of the clean probability the best shadow must remove for a scale to count.
DEFAULT_MIN_DROP = 0.05


@dataclass(frozen=True)
class AutoScaleResult:
    """Maps at a scale chosen per target.

    Attributes
    ----------
    saliency : array
        ``(T, *spatial)``: each target's map at its chosen scale.
    sigmas : list
        The chosen scale of each target (an entry of the searched scales).
    reasons : list of str
        Why: ``"finest informative scale"``, or ``"no scale informative; coarsest kept"``.
    scales : list of GLASResult
        Every scale's result, coarse to fine (the adaptive search's).
    n_forward : int
        Rows scored over all scales.
    """

    saliency: Any
    sigmas: list[Any]
    reasons: list[str]
    scales: list[GLASResult] = field(default_factory=list)
    n_forward: int = 0

    def to_numpy(self) -> np.ndarray:
        return to_numpy(self.saliency)


def best_shadow_drop(result: GLASResult) -> np.ndarray:
    """``(T,)``: the largest ``|P(y|I) - P(y|I*(1-G))|`` over the points a sweep evaluated, relative
    to ``P(y|I)`` (f_s minus lambda; NaN points, which a finer adaptive scale skipped, are ignored)."""
    if result.shadow_scores is None:
        raise fail("mode", quoted(result.mode), "'fusion' or 'shadow' for sigma chosen per image",
                   "use mode='fusion' (the default)")
    drop = to_numpy(result.shadow_scores).astype(np.float64) - result.config.lam
    clean = to_numpy(result.clean_scores).astype(np.float64)
    with np.errstate(all="ignore"):
        best = np.nanmax(np.where(np.isnan(drop), -np.inf, drop), axis=1)
        return np.where(clean > 0, best / clean, 0.0)


def explain_auto(score_fn: Callable[[Any], Any], x: Any, sigmas: Sequence[Any] = AUTO_SIGMAS, *,
                 min_drop: float = DEFAULT_MIN_DROP, **kwargs: Any) -> AutoScaleResult:
    """Explain ``x`` at the finest informative scale of each target (``sigma="auto"``).

    Parameters
    ----------
    score_fn, x
        As in :func:`glas_core.explain`.
    sigmas : sequence
        Candidate scales, coarse to fine (grid cells; ``in_pixels=True`` for pixels).
    min_drop : float
        The share of the clean probability the best shadow must remove (see the module docstring).
    **kwargs
        As in :func:`glas_core.explain_multiscale` (``adaptive`` is always True here).
    """
    if not isinstance(min_drop, (int, float)) or isinstance(min_drop, bool) or not 0.0 < float(min_drop) < 1.0:
        raise fail("min_drop", quoted(min_drop), "a share in (0, 1)", f"use min_drop={DEFAULT_MIN_DROP}")
    kwargs.pop("adaptive", None)
    scales = explain_multiscale(score_fn, x, sigmas, adaptive=True, **kwargs)
    drops = np.stack([best_shadow_drop(r) for r in scales])  # (S, T)
    informative = drops >= float(min_drop)
    xp = namespace_of(scales[0].saliency)
    maps, chosen, reasons = [], [], []
    for t in range(drops.shape[1]):
        ok = np.nonzero(informative[:, t])[0]
        j = int(ok[-1]) if ok.size else 0
        maps.append(scales[j].saliency[t, ...])
        chosen.append(sigmas[j])
        reasons.append("finest informative scale" if ok.size else "no scale informative; coarsest kept")
    return AutoScaleResult(saliency=xp.stack(maps, axis=0), sigmas=chosen, reasons=reasons, scales=scales,
                           n_forward=sum(r.n_forward for r in scales))
