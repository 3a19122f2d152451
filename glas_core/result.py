"""Result containers of GLAS and Recursive GLAS."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ._array_api import to_numpy
from .config import GLASConfig, SigmaTriple
from .errors import fail


@dataclass(frozen=True)
class GLASResult:
    """One GLAS sweep over one example, for T targets at once.

    Attributes
    ----------
    saliency : array
        ``(T, *spatial)`` maps (Eq. 3) in the input's namespace and device.
    clean_scores : array
        ``(T,)`` scores ``P(y | I)`` of the unperturbed input.
    light_scores : array or None
        ``(T, P)`` light scores ``f_l`` (Eq. 1); None in ``mode="shadow"``.
    shadow_scores : array or None
        ``(T, P)`` shadow scores ``f_s`` (Eq. 2, lambda included); None in ``mode="light"``.
    points : numpy.ndarray
        ``(P, n_spatial)`` search points in pixel coordinates.
    grid : tuple of int or None
        Points per axis for a grid search, None for custom points.
    sigma_px : tuple
        ``(light, shadow, spatial)`` scales in pixels, one value per spatial axis each.
    spatial_axes : tuple of int
        Non-negative spatial axes of the input.
    n_forward : int
        Number of rows scored by ``score_fn`` (``2P + 1`` in fusion mode).
    config : GLASConfig
        The validated settings.
    log_scale : array or None
        ``(T,)``, for a sweep scored in log-probabilities (``log_scores=True``): the map is Eq. 3
        divided by ``exp(log_scale)``, the largest point weight ``f_l f_s`` of each target, so it
        stays informative when that weight is far below the smallest float. None for a sweep
        scored in probabilities, whose map is Eq. 3 as printed.
    """

    saliency: Any
    clean_scores: Any
    light_scores: Any | None
    shadow_scores: Any | None
    points: np.ndarray
    grid: tuple[int, ...] | None
    sigma_px: SigmaTriple
    spatial_axes: tuple[int, ...]
    n_forward: int
    config: GLASConfig
    log_scale: Any | None = None

    @property
    def mode(self) -> str:
        return self.config.mode

    def to_numpy(self) -> np.ndarray:
        """The saliency maps as a host NumPy array ``(T, *spatial)``."""
        return to_numpy(self.saliency)

    def _repr_png_(self) -> bytes | None:
        """The maps as a PNG, so a result at the end of a notebook cell is shown (2-D maps, matplotlib)."""
        from .viz.notebook import maps_png

        return maps_png(self.saliency)

    def score_grid(self, which: str = "light") -> np.ndarray:
        """Light or shadow scores laid out on the grid, ``(T, *grid)`` NumPy.

        Raises
        ------
        GLASError
            For custom points, or when ``which`` was not computed in this mode.
        """
        scores = {"light": self.light_scores, "shadow": self.shadow_scores}.get(which, "missing")
        if isinstance(scores, str):
            raise fail("which", which, "'light' or 'shadow'", "ask for score_grid('light')")
        if scores is None:
            raise fail("which", which, f"a score computed in mode={self.mode!r}",
                       "rerun with mode='fusion' to get both light and shadow scores")
        if self.grid is None:
            raise fail("score_grid", "a custom point set", "a grid search",
                       "read light_scores/shadow_scores directly, one column per point")
        arr = to_numpy(scores)
        return arr.reshape((arr.shape[0],) + tuple(self.grid))


@dataclass(frozen=True)
class RGLASIteration:
    """One iteration of Recursive GLAS (Algorithm 1) for one target.

    Attributes
    ----------
    saliency : array
        The min-max normalised map S of this iteration, ``spatial`` shape.
    removed_points : numpy.ndarray
        ``(n_removed, n_spatial)`` points where ``S > t1``, excluded from later iterations.
    score_after : float
        ``P(y | I)`` on the image updated with ``I * (1 - S)``.
    criterion : float
        ``sqrt(mean(S) / score_after)``, compared with ``t2``.
    n_points : int
        Search points used in this iteration.
    weight : float
        The weight of ``saliency`` in the accumulated map: 1 with the paper's rule, the
        iteration's relative evidence with ``stop="evidence"``.
    """

    saliency: Any
    removed_points: np.ndarray
    score_after: float
    criterion: float
    n_points: int
    weight: float = 1.0


@dataclass(frozen=True)
class RecursiveResult:
    """Recursive GLAS over one example for T targets.

    Attributes
    ----------
    saliency : array
        ``(T, *spatial)`` accumulated map O (sum of the normalised iteration maps).
    iterations : list of list of RGLASIteration
        ``iterations[t]`` holds every iteration of target ``t``.
    stop_reasons : list of str
        Per target: ``"t2"`` (the stop condition of Algorithm 1), ``"no_points"``, ``"max_iter"``,
        ``"flat"`` (the iteration's map was flat, so dimming changed nothing), or ``"no_evidence"``
        (``stop="evidence"``: the last sweep's evidence was too small to count; it was not added).
    n_forward : int
        Rows scored in total.
    """

    saliency: Any
    iterations: list[list[RGLASIteration]] = field(default_factory=list)
    stop_reasons: list[str] = field(default_factory=list)
    n_forward: int = 0

    def to_numpy(self) -> np.ndarray:
        """The accumulated maps as a host NumPy array ``(T, *spatial)``."""
        return to_numpy(self.saliency)

    def _repr_png_(self) -> bytes | None:
        """The accumulated maps as a PNG, for notebooks."""
        from .viz.notebook import maps_png

        return maps_png(self.saliency)
