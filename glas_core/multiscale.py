"""Coarse-to-fine control: one GLAS map per scale (the paper's Figure 1)."""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Sequence

from .engine import explain
from .errors import fail, quoted
from .result import GLASResult


def explain_multiscale(
    score_fn: Callable[[Any], Any],
    x: Any,
    sigmas: Sequence[Any] = (5.0, 3.0, 1.0),
    *,
    in_pixels: bool = False,
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
    config = kwargs.pop("config", None)
    if config is None:
        return [explain(score_fn, x, **{key: s}, **kwargs) for s in sigmas]
    scaled = [dataclasses.replace(config, sigma_px=None, **{key: s}) for s in sigmas]
    return [explain(score_fn, x, config=c, **kwargs) for c in scaled]
