"""Coarse-to-fine control: one GLAS map per scale (the paper's Figure 1)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

from .adaptive import DEFAULT_KEEP, explain_adaptive
from .config import SETTINGS, config_from
from .engine import explain
from .errors import fail, quoted
from .result import GLASResult


def explain_multiscale(
    score_fn: Callable[[Any], Any],
    x: Any,
    sigmas: Sequence[Any] = (5.0, 3.0, 1.0),
    *,
    in_pixels: bool = False,
    adaptive: bool = False,
    keep: float = DEFAULT_KEEP,
    **kwargs: Any,
) -> list[GLASResult]:
    """Explain ``x`` once per scale, coarse to fine.

    Parameters
    ----------
    score_fn, x
        As in :func:`glas_core.explain`.
    sigmas : sequence
        One entry per map: a scale for all three sigmas, or a (light, shadow, spatial)
        triple. Grid cells unless ``in_pixels`` is True. Decreasing sigma moves the map
        from the whole object to its most discriminative part (the salient explanation).
    in_pixels : bool
        Read ``sigmas`` as pixels (``sigma_px``) instead of grid cells.
    adaptive : bool
        Sweep each finer scale only at the grid points where the previous scale's map is at
        least ``keep`` of its peak (and their neighbours), reusing the clean score; the other
        points get no weight in that scale's Eq. 3 (see :mod:`glas_core.adaptive`). Give the
        scales coarse to fine.
    keep : float
        With ``adaptive``: the share of the previous map's peak a point needs to be swept again.
    **kwargs
        Any other argument of :func:`glas_core.explain` except ``sigma``/``sigma_px``; with
        ``config=``, each scale replaces the config's sigma.

    Returns
    -------
    list of GLASResult
        One result per entry of ``sigmas``, in order.
    """
    if "sigma" in kwargs or "sigma_px" in kwargs:
        raise fail("sigma", "sigma/sigma_px keyword", "given through `sigmas` only",
                   "pass the scales as sigmas=[5, 3, 1] (and in_pixels=True for pixels)")
    if isinstance(sigmas, (str, bytes)) or not isinstance(sigmas, Sequence) or len(sigmas) == 0:
        raise fail("sigmas", quoted(sigmas), "a non-empty list of scales", "use e.g. sigmas=[5, 3, 1]")
    key = "sigma_px" if in_pixels else "sigma"
    if adaptive:
        if kwargs.get("points") is not None or getattr(kwargs.get("config"), "points", None) is not None:
            raise fail("points", "custom points", "a grid search for adaptive=True",
                       "use adaptive=False with custom points, or grid=")
        settings = {k: kwargs.pop(k) for k in SETTINGS if k in kwargs}
        config = config_from(kwargs.pop("config", None), **settings)
        return explain_adaptive(score_fn, x, sigmas, keep=keep, in_pixels=in_pixels, config=config, **kwargs)
    config = kwargs.pop("config", None)
    if config is None:
        return [explain(score_fn, x, **{key: s}, **kwargs) for s in sigmas]
    scaled = [dataclasses.replace(config, sigma_px=None, **{key: s}) for s in sigmas]
    return [explain(score_fn, x, config=c, **kwargs) for c in scaled]
