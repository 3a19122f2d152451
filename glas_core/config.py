"""Validated GLAS settings and their resolution against an image's spatial shape."""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._array_api import to_numpy
from .errors import fail, quoted
from .points import grid_axis_centers, grid_points

#: (sigma_light, sigma_shadow, sigma_spatial) in grid cells: the paper's localisation setting at k = 15.
DEFAULT_SIGMA: tuple[float, float, float] = (5.0, 3.0, 6.0)
DEFAULT_GRID = 15
MODES = ("fusion", "light", "shadow")

SigmaTriple = tuple[tuple[float, ...], tuple[float, ...], tuple[float, ...]]


def _is_number(v: Any) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool)


def _check_positive(name: str, value: Any, fix: str) -> float:
    if not _is_number(value) or not math.isfinite(float(value)) or float(value) <= 0:
        raise fail(name, quoted(value), "a positive finite number", fix)
    return float(value)


def _sigma_entries(name: str, sigma: Any) -> tuple:
    """Normalise a scalar or (light, shadow, spatial) triple into three entries.

    Each entry of a triple is a number (every spatial axis) or a per-axis tuple, checked by
    :func:`_per_axis` once the number of spatial axes is known.
    """
    fix = (f"pass a positive number (all three scales) or a (light, shadow, spatial) triple, "
           f"e.g. {name}=(5, 3, 6), whose entries may be per-axis tuples, e.g. {name}=((2, 5, 5), (1, 3, 3), 6)")
    if _is_number(sigma):
        _check_positive(name, sigma, f"use a positive number, e.g. {name}=1 or {name}=(5, 3, 6)")
        return (sigma, sigma, sigma)
    if isinstance(sigma, (tuple, list)) and len(sigma) == 3:
        for entry in sigma:
            if not _is_number(entry) and not (isinstance(entry, (tuple, list)) and entry
                                              and all(_is_number(e) for e in entry)):
                raise fail(name, quoted(sigma), "a positive number or a (light, shadow, spatial) triple of "
                           "numbers or per-axis tuples of numbers", fix)
            for e in (entry if isinstance(entry, (tuple, list)) else (entry,)):
                _check_positive(name, e, f"every scale must be above 0 along every axis, e.g. {name}=(5, 3, 6)")
        return tuple(sigma)
    raise fail(name, quoted(sigma), "a positive number or a (light, shadow, spatial) triple", fix)


def _triple(entries: Sequence[tuple[float, ...]]) -> SigmaTriple:
    """The (light, shadow, spatial) entries of :func:`_sigma_entries`, typed as a triple."""
    light, shadow, spatial = entries
    return light, shadow, spatial


def _per_axis(name: str, entry: Any, n_axes: int) -> tuple[float, ...]:
    """One entry of a sigma triple as ``n_axes`` positive scales: a number for every axis, or one per axis."""
    fix = f"use positive numbers, e.g. {name}=(5, 3, 6)"
    if _is_number(entry):
        return (_check_positive(name, entry, fix),) * n_axes
    if isinstance(entry, (tuple, list)) and len(entry) == n_axes:
        return tuple(_check_positive(name, e, fix) for e in entry)
    raise fail(name, f"the per-axis entry {quoted(entry)} for an input with {n_axes} spatial axis(es)",
               f"a positive number or a tuple of {n_axes} per-axis positive numbers, one per spatial axis",
               "give one scale per spatial axis (in the order of spatial_axes), or one number for all of them")


@dataclass(frozen=True)
class GLASConfig:
    """GLAS settings, validated on construction.

    Parameters
    ----------
    grid : int or tuple of int or None
        Search grid, ``k`` or one ``k`` per spatial axis (e.g. ``(8, 14, 14)`` for a
        ``(T, H, W)`` video). None with custom ``points``.
    sigma : float or triple
        (light, shadow, spatial) scales in grid cells, where one cell along axis ``a`` is
        ``n_a / k_a`` pixels (see docs/paper-readings.md, "sigma units"). A number sets all three
        scales on every axis; each entry of a triple is a number (every axis) or a tuple with one
        scale per spatial axis, in the order of ``spatial_axes``: ``sigma=((2, 5, 5), (1, 3, 3), 6)``
        gives a video lights of 2 cells along time and 5 across the frame.
    sigma_px : float or triple or None
        The same scales in pixels (samples, voxels), with the same per-axis rule. Overrides ``sigma``.
    mode : {"fusion", "light", "shadow"}
        Eq. 3 weights: ``f_l * f_s``, ``f_l`` or ``f_s`` (the paper's Table 2 ablation).
    lam : float
        The lambda of Eq. 2 (1e-5; it only keeps the shadow score away from zero).
    batch_size : int
        Rows per ``score_fn`` call; bounds memory.
    points : numpy.ndarray or None
        Custom search points ``(P, n_spatial)`` in pixel coordinates.
    """

    grid: tuple[int, ...] | int | None = DEFAULT_GRID
    sigma: Any = DEFAULT_SIGMA
    sigma_px: Any = None
    mode: str = "fusion"
    lam: float = 1e-5
    batch_size: int = 64
    points: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.points is not None and not isinstance(self.points, np.ndarray):
            object.__setattr__(self, "points", _points_array(self.points))
        if self.mode not in MODES:
            raise fail("mode", repr(self.mode), "one of 'fusion', 'light', 'shadow'",
                       "use mode='fusion' (the paper's GLAS) or 'light'/'shadow' for the ablation")
        if not _is_number(self.lam) or not math.isfinite(float(self.lam)) or float(self.lam) < 0:
            raise fail("lam", quoted(self.lam), "a finite number >= 0", "use lam=1e-5 (the paper's constant)")
        if (not isinstance(self.batch_size, numbers.Integral) or isinstance(self.batch_size, bool)
                or self.batch_size < 1):
            raise fail("batch_size", quoted(self.batch_size), "a positive int",
                       "use batch_size=64, or smaller if the model runs out of memory")
        if self.points is not None and self.sigma_px is None:
            raise fail("sigma_px", None, "given (in pixels) when custom points are used",
                       "sigma in grid cells has no meaning without a grid: pass sigma_px=, "
                       "e.g. sigma_px=10 as in the paper's MRI appendix")
        _sigma_entries("sigma", self.sigma)
        if self.sigma_px is not None:
            _sigma_entries("sigma_px", self.sigma_px)

    def resolve(self, spatial_shape: Sequence[int]) -> SearchPlan:
        """Turn the settings into points and pixel scales for one image size."""
        n_axes = len(spatial_shape)
        if self.points is not None:
            points = _validate_points(self.points, spatial_shape)
            grid = None
        elif self.grid is None:
            raise fail("grid", None, "a positive int or a tuple of positive ints when no points are given",
                       "use grid=15 (the paper's default)")
        else:
            grid = _validate_grid(self.grid, spatial_shape)
            points = grid_points(spatial_shape, grid)
        if self.sigma_px is not None:
            entries = _sigma_entries("sigma_px", self.sigma_px)
            sig = _triple([_per_axis("sigma_px", e, n_axes) for e in entries])
        else:
            assert grid is not None  # validate() refuses custom points without sigma_px
            entries = _sigma_entries("sigma", self.sigma)
            cells = [_per_axis("sigma", e, n_axes) for e in entries]
            # one grid cell along axis a is n_a / k_a pixels
            sig = _triple([tuple(c[a] * spatial_shape[a] / grid[a] for a in range(n_axes)) for c in cells])
        if grid is not None:
            centers = tuple(grid_axis_centers(spatial_shape[a], grid[a]) for a in range(n_axes))
        else:
            centers = tuple(points[:, a] for a in range(n_axes))
        _check_masks_reach_pixels(centers, spatial_shape, sig, "sigma_px" if self.sigma_px is not None else "sigma")
        return SearchPlan(points=points, grid=grid, sigma_px=sig, axis_centers=centers,
                          spatial_shape=tuple(int(n) for n in spatial_shape),
                          rows=RowLayout(int(points.shape[0]), self.mode))


@dataclass(frozen=True)
class RowLayout:
    """The rows of one sweep, the one layout every caller uses.

    Row 0 is the clean input ``I``; then, in fusion and light mode, one light row
    ``I * G(mu_i)`` per search point (Eq. 1); then, in fusion and shadow mode, one shadow row
    ``I * (1 - G(mu_i))`` per point (Eq. 2). The ablation modes skip the rows they do not need,
    and a sweep whose clean score is already known (a finer scale of the same image) skips row 0.

    Parameters
    ----------
    n_points : int
        Number of search points P.
    mode : {"fusion", "light", "shadow"}
    clean : bool
        Whether the clean row is part of the sweep.
    """

    n_points: int
    mode: str
    clean: bool = True

    @property
    def has_light(self) -> bool:
        return self.mode in ("fusion", "light")

    @property
    def has_shadow(self) -> bool:
        return self.mode in ("fusion", "shadow")

    @property
    def n_rows(self) -> int:
        """``1 + P`` in the ablation modes, ``1 + 2P`` in fusion mode (one less without the clean row)."""
        return int(self.clean) + self.n_points * (int(self.has_light) + int(self.has_shadow))

    @property
    def light(self) -> slice | None:
        """Rows of the light perturbations, or None in shadow mode."""
        start = int(self.clean)
        return slice(start, start + self.n_points) if self.has_light else None

    @property
    def shadow(self) -> slice | None:
        """Rows of the shadow perturbations, or None in light mode."""
        if not self.has_shadow:
            return None
        start = int(self.clean) + (self.n_points if self.has_light else 0)
        return slice(start, start + self.n_points)

    def segments(self) -> list[tuple[str, slice]]:
        """``[("clean", rows), ("light", rows), ("shadow", rows)]`` for the rows this sweep scores."""
        parts = [("clean", slice(0, 1) if self.clean else None), ("light", self.light), ("shadow", self.shadow)]
        return [(kind, rows) for kind, rows in parts if rows is not None]


@dataclass(frozen=True)
class SearchPlan:
    """Search points, pixel scales and the sweep's rows resolved for one spatial shape.

    Attributes
    ----------
    points : numpy.ndarray
        ``(P, n_spatial)`` search points in pixel coordinates, grid points in C order.
    grid : tuple of int or None
        Points per axis, or None for custom points.
    sigma_px : tuple
        ``(light, shadow, spatial)`` scales in pixels, one value per spatial axis each.
    axis_centers : tuple of numpy.ndarray
        Per axis, the centres of the 1-D Gaussians the masks and the Eq. 3 kernel are built
        from: the ``k_a`` cell centres of a grid (so profile memory is ``O(k n)``, not
        ``O(P n)``), or the P point coordinates for custom points.
    spatial_shape : tuple of int
        The image's size along each spatial axis.
    rows : RowLayout
        The sweep's row layout.
    """

    points: np.ndarray
    grid: tuple[int, ...] | None
    sigma_px: SigmaTriple
    axis_centers: tuple[np.ndarray, ...]
    spatial_shape: tuple[int, ...]
    rows: RowLayout

    @property
    def n_points(self) -> int:
        return int(self.points.shape[0])


#: The keywords a GLASConfig holds.
SETTINGS = ("grid", "sigma", "sigma_px", "mode", "lam", "batch_size", "points")


def config_from(config: GLASConfig | None, **settings: Any) -> GLASConfig:
    """The settings of one call: ``config`` as given, or a config built from the keywords.

    A keyword left at None takes its default (grid 15, sigma (5, 3, 6), mode "fusion",
    lam 1e-5, batch_size 64). Giving ``config`` together with any keyword is refused, since
    one of the two would be silently ignored.

    Parameters
    ----------
    config : GLASConfig or None
    **settings
        ``grid``, ``sigma``, ``sigma_px``, ``mode``, ``lam``, ``batch_size``, ``points``.
    """
    unknown = sorted(set(settings) - set(SETTINGS))
    if unknown:
        raise TypeError(f"unexpected setting(s) {unknown}")
    given = {k: v for k, v in settings.items() if v is not None}
    if config is not None:
        if not isinstance(config, GLASConfig):
            raise fail("config", type(config).__name__, "a glas_core.GLASConfig or None",
                       "build one with glas_core.GLASConfig(grid=15, sigma=(5, 3, 6)) or pass the keywords")
        if given:
            raise fail("config", f"a GLASConfig together with {', '.join(sorted(given))}=",
                       "either config= or the setting keywords, not both",
                       "put every setting in the config, e.g. dataclasses.replace(config, grid=9)")
        return config
    if "grid" in given and "points" in given:
        raise fail("grid", quoted(given["grid"]), "None when custom points are given",
                   "pass either grid= (a regular search) or points= (custom search points), not both")
    if "sigma" in given and "sigma_px" in given:
        raise fail("sigma", quoted(given["sigma"]), "left out when sigma_px is given",
                   "give the scales in grid cells (sigma=) or in pixels (sigma_px=), not both")
    if "points" in given:
        given["grid"] = None
    return GLASConfig(**given)


#: A mask or Eq. 3 kernel whose value on the pixel nearest its centre is below this is empty.
_MIN_PEAK = 1e-6


def _check_masks_reach_pixels(centers: Sequence[np.ndarray], spatial_shape: Sequence[int], sig: SigmaTriple,
                              name: str) -> None:
    """Refuse scales so small that some mask (or Eq. 3 kernel) is zero on every pixel.

    Grid points sit between pixels, so a Gaussian much narrower than a pixel misses them all:
    every light row would be black, every shadow row the clean image, and the map all zeros.
    """
    for which, scales, denominator in (("light", sig[0], 2.0), ("shadow", sig[1], 2.0), ("spatial", sig[2], 1.0)):
        log_peak = 0.0
        for a, n in enumerate(spatial_shape):
            c = np.asarray(centers[a], dtype=np.float64)
            gap = float(np.max(np.abs(c - np.clip(np.rint(c), 0, n - 1))))
            ratio = gap / scales[a]
            log_peak -= ratio * ratio / denominator  # inf, not an error, for a vanishing scale
        if log_peak < math.log(_MIN_PEAK):
            raise fail(name, f"a {which} scale of {tuple(round(v, 6) for v in scales)} pixels",
                       "scales whose Gaussians reach the pixels nearest the search points",
                       f"those masks are below {_MIN_PEAK:g} on every pixel (all-zero maps); use at least "
                       "half a pixel, e.g. sigma=1 (one grid cell)")


def _validate_grid(grid: Any, spatial_shape: Sequence[int]) -> tuple[int, ...]:
    n_axes = len(spatial_shape)
    fix = "use grid=15 (the paper's default)"
    expected = f"a positive int or a tuple of {n_axes} positive ints"
    if isinstance(grid, numbers.Integral) and not isinstance(grid, bool):
        ks = (int(grid),) * n_axes
    elif isinstance(grid, (tuple, list)) and len(grid) == n_axes and all(
            isinstance(k, numbers.Integral) and not isinstance(k, bool) for k in grid):
        ks = tuple(int(k) for k in grid)
    else:
        raise fail("grid", quoted(grid), expected, fix)
    if any(k < 1 for k in ks):
        raise fail("grid", quoted(grid), expected, fix)
    too_big = [a for a in range(n_axes) if ks[a] > spatial_shape[a]]
    if too_big:
        fitted = tuple(min(k, n) for k, n in zip(ks, spatial_shape))
        shown = fitted[0] if len(fitted) == 1 else fitted
        hint = "; for a (C, T) series pass spatial_axes=(-1,)" if n_axes == 2 and min(spatial_shape) <= 4 else ""
        raise fail("grid", quoted(grid), f"at most the input's size {tuple(spatial_shape)} along every spatial axis "
                   f"(spatial axis {too_big[0]} has {spatial_shape[too_big[0]]} samples)",
                   f"use fewer search points than samples along each axis, e.g. grid={shown}{hint}")
    return ks


def _points_array(points: Any) -> np.ndarray:
    """Custom points as a float64 host array (torch, CuPy and JAX arrays too)."""
    try:
        return np.asarray(to_numpy(points), dtype=np.float64)
    except Exception:
        raise fail("points", type(points).__name__, "an array of shape (n_points, n_spatial)",
                   "pass pixel coordinates, one row per search point") from None


def _validate_points(points: Any, spatial_shape: Sequence[int]) -> np.ndarray:
    n_axes = len(spatial_shape)
    arr = _points_array(points)
    if arr.ndim != 2 or arr.shape[1] != n_axes or arr.shape[0] < 1:
        raise fail("points", f"an array of shape {arr.shape}", f"shape (n_points >= 1, {n_axes})",
                   "pass one row of pixel coordinates per search point, one column per spatial axis")
    if not np.all(np.isfinite(arr)):
        raise fail("points", "non-finite coordinates", "finite pixel coordinates", "drop NaN/inf rows")
    upper = np.asarray(spatial_shape, dtype=np.float64) - 1
    outside = np.any((arr < -0.5) | (arr > upper + 0.5), axis=1)
    if np.any(outside):
        raise fail("points", f"{int(outside.sum())} point(s) outside the image, first {arr[outside][0].tolist()}",
                   f"pixel coordinates within [0, n - 1] along each axis of shape {tuple(spatial_shape)}",
                   "check the coordinate order (it follows spatial_axes) and the image size")
    return arr
