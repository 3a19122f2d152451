"""Point values: the light score (Eq. 1), the shadow score (Eq. 2) and Eq. 3's per-point weight.

Every function takes the ``(rows, T)`` scores of one sweep, laid out by
:class:`glas_core.config.RowLayout`, and returns ``(T, P)`` arrays: one value per target and
search point.
"""

from __future__ import annotations

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
