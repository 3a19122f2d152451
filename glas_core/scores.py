"""Point values: the light score (Eq. 1), the shadow score (Eq. 2) and Eq. 3's per-point weight.

Every function takes the ``(rows, T)`` scores of one sweep, laid out by
:class:`glas_core.config.RowLayout`, and returns ``(T, P)`` arrays: one value per target and
search point.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from .config import RowLayout


def light_score(xp: Any, scores: Any, rows: RowLayout) -> Any:
    """Eq. 1: ``f_l(mu_i) = P(y | I * G(mu_i, sigma_l))``, the score under each light mask.

    Returns
    -------
    array
        ``(T, P)`` light scores.
    """
    return xp.permute_dims(scores[rows.light, :], (1, 0))


def shadow_score(xp: Any, scores: Any, rows: RowLayout, lam: float) -> Any:
    """Eq. 2: ``f_s(mu_i) = |P(y | I) - P(y | I * (1 - G(mu_i, sigma_s)))| + lambda``.

    Lambda only keeps the score away from zero (the paper prints "10^5"; we read 1e-5, see
    docs/paper-readings.md).

    Returns
    -------
    array
        ``(T, P)`` shadow scores.
    """
    clean = scores[0, :]
    return xp.abs(clean[:, None] - xp.permute_dims(scores[rows.shadow, :], (1, 0))) + lam


def fusion_weight(light: Any | None, shadow: Any | None, mode: str) -> Any:
    """Eq. 3's per-point factor: ``f_l * f_s`` (GLAS), or ``f_l`` / ``f_s`` alone (Table 2 ablation)."""
    if mode == "fusion":
        assert light is not None and shadow is not None  # a fusion sweep has both factors
        return light * shadow
    return light if mode == "light" else shadow


@dataclass(frozen=True)
class PointValues:
    """The clean scores and the per-point values of one sweep, each ``(T, P)`` (clean ``(T,)``)."""

    clean: Any
    light: Any | None
    shadow: Any | None
    weight: Any


def point_values(xp: Any, scores: Any, rows: RowLayout, lam: float) -> PointValues:
    """Split a sweep's ``(rows, T)`` scores into clean scores, f_l, f_s and Eq. 3's weights."""
    light = light_score(xp, scores, rows) if rows.has_light else None
    shadow = shadow_score(xp, scores, rows, lam) if rows.has_shadow else None
    return PointValues(clean=scores[0, :], light=light, shadow=shadow,
                       weight=fusion_weight(light, shadow, rows.mode))


# ----------------------------------------------------------------------------- log domain
def log_shadow_score(xp: Any, log_scores: Any, rows: RowLayout, lam: float) -> Any:
    """Eq. 2 from log-probabilities: ``log(|P(y|I) - P(y|I * (1 - G))| + lambda)``, computed stably.

    With ``a = log P(y|I)`` and ``b = log P(y|I * (1 - G))``,
    ``log|e^a - e^b| = max(a, b) + log(-expm1(-|a - b|))``, which stays exact when both
    probabilities are far below the smallest float (an over-confident model under a mask);
    lambda is then added with ``logaddexp``.

    Returns
    -------
    array
        ``(T, P)`` log shadow scores.
    """
    a = log_scores[0, :][:, None]
    b = xp.permute_dims(log_scores[rows.shadow, :], (1, 0))
    hi = xp.maximum(a, b)
    usable = xp.isfinite(hi) & (a != b)  # elsewhere |e^a - e^b| = 0; filled so no NaN or log(0) is computed
    gap = xp.abs(xp.where(usable, a, xp.zeros_like(hi)) - xp.where(usable, b, xp.ones_like(hi)))
    log_gap = xp.where(usable, hi + xp.log(-xp.expm1(-gap)), xp.full_like(hi, -math.inf))
    log_lam = xp.full_like(hi, math.log(lam) if lam > 0 else -math.inf)
    return xp.logaddexp(log_gap, log_lam)


def log_fusion_weight(log_light: Any | None, log_shadow: Any | None, mode: str) -> Any:
    """Eq. 3's per-point factor in the log domain: ``log f_l + log f_s``, or one of them (ablation)."""
    if mode == "fusion":
        assert log_light is not None and log_shadow is not None  # a fusion sweep has both factors
        return log_light + log_shadow
    return log_light if mode == "light" else log_shadow


def log_point_values(xp: Any, log_scores: Any, rows: RowLayout, lam: float) -> tuple[PointValues, Any]:
    """:func:`point_values` from log-probabilities, with Eq. 3's weights scaled per target.

    The weights ``v = f_l f_s`` are returned divided by their largest value per target,
    ``exp(log v - m)`` with ``m = max_i log v_i``, so the biggest is 1 however small the
    probabilities are; ``m`` (``(T,)``, -inf when every weight is 0) is returned beside them. The
    clean, light and shadow values are the plain probabilities (they may underflow to 0).

    Returns
    -------
    (PointValues, array)
        The values, with ``weight`` scaled, and the per-target log scale ``m``.
    """
    log_light = xp.permute_dims(log_scores[rows.light, :], (1, 0)) if rows.has_light else None
    log_shadow = log_shadow_score(xp, log_scores, rows, lam) if rows.has_shadow else None
    log_weight = log_fusion_weight(log_light, log_shadow, rows.mode)
    top = xp.max(log_weight, axis=1)
    shift = xp.where(xp.isfinite(top), top, xp.zeros_like(top))
    weight = xp.exp(log_weight - shift[:, None])
    values = PointValues(clean=xp.exp(log_scores[0, :]),
                         light=None if log_light is None else xp.exp(log_light),
                         shadow=None if log_shadow is None else xp.exp(log_shadow),
                         weight=weight)
    return values, top
