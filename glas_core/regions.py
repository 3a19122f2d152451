"""Region search points for atlases (the paper's MRI appendix) and cohort ranking.

The paper explains a 3-D CNN on MRI with the centroids of atlas regions as search points,
reads each region's impact off its point directly, and sums the maps of a whole cohort,
then normalises, to find the regions that matter across patients. This module does the same
for any label volume (or 2-D label image, or 1-D labelled segments of a signal).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._array_api import to_numpy
from ._validation import normalize_spatial_axes
from .engine import explain
from .errors import fail
from .result import GLASResult
from .scores import fusion_weight


@dataclass(frozen=True)
class Regions:
    """Labelled regions and their centroids.

    Attributes
    ----------
    ids : numpy.ndarray
        ``(R,)`` label values, increasing.
    names : tuple of str
        One name per region (the label value as text unless names were given).
    centroids : numpy.ndarray
        ``(R, n_spatial)`` mean voxel index of each region.
    sizes : numpy.ndarray
        ``(R,)`` voxels per region.
    """

    ids: np.ndarray
    names: tuple[str, ...]
    centroids: np.ndarray
    sizes: np.ndarray


def regions_from_labels(labels: Any, *, background: int | None = 0,
                        names: dict[int, str] | Sequence[str] | None = None) -> Regions:
    """One search point per label: the centroid (mean voxel index) of its voxels.

    Parameters
    ----------
    labels : array of int
        Label image or volume, shape = the input's spatial shape.
    background : int or None
        Label value that is not a region (None: every value is a region).
    names : dict or sequence, optional
        Region names, by label value (dict) or in increasing label order (sequence).
    """
    lab = to_numpy(labels)
    if lab.ndim not in (1, 2, 3) or not (np.issubdtype(lab.dtype, np.integer) or np.issubdtype(lab.dtype, np.bool_)):
        raise fail("labels", f"an array of dtype {lab.dtype} and shape {lab.shape}",
                   "integer labels of a signal (1-D), an image (2-D) or a volume (3-D)",
                   "pass the atlas as integer labels, e.g. labels.astype(int)")
    ids, inverse, sizes = np.unique(lab.reshape(-1), return_inverse=True, return_counts=True)
    keep = ids != background if background is not None else np.ones(len(ids), dtype=bool)
    if not np.any(keep):
        raise fail("labels", f"only the background value {background}", "at least one labelled region",
                   "check the atlas (is it empty, or is every voxel background?)")
    coords = np.indices(lab.shape).reshape(lab.ndim, -1).astype(np.float64)
    sums = np.stack([np.bincount(inverse, weights=c, minlength=len(ids)) for c in coords], axis=1)
    centroids = sums / sizes[:, None]
    ids, centroids, sizes = ids[keep], centroids[keep], sizes[keep]
    return Regions(ids=ids, names=_region_names(ids, names), centroids=centroids, sizes=sizes)


def _region_names(ids: np.ndarray, names: Any) -> tuple[str, ...]:
    if names is None:
        return tuple(str(int(i)) for i in ids)
    if isinstance(names, dict):
        return tuple(str(names.get(int(i), int(i))) for i in ids)
    if len(names) != len(ids):
        raise fail("names", f"{len(names)} names", f"one name per region ({len(ids)})",
                   "pass a dict {label: name} or a list in increasing label order")
    return tuple(str(n) for n in names)


@dataclass(frozen=True)
class RegionImpact:
    """Per-region impact for T targets.

    Attributes
    ----------
    regions : Regions
    point_score : numpy.ndarray
        ``(T, R)`` the Eq. 3 weight of each region's own point: ``f_l f_s`` in fusion mode,
        ``f_l`` or ``f_s`` in the ablation modes (the impact read "directly" in the paper).
    light, shadow : numpy.ndarray or None
        ``(T, R)`` f_l (Eq. 1) and f_s (Eq. 2) of each region's point, where computed.
    map_mean : numpy.ndarray
        ``(T, R)`` mean of the saliency map inside each region.
    """

    regions: Regions
    point_score: np.ndarray
    light: np.ndarray | None
    shadow: np.ndarray | None
    map_mean: np.ndarray

    def ranking(self, target: int = 0, by: str = "point_score") -> list[tuple[str, float]]:
        """Regions sorted by impact, highest first: ``[(name, value), ...]``."""
        values = _impact_values(self, by)[target]
        order = np.argsort(-values, kind="stable")
        return [(self.regions.names[i], float(values[i])) for i in order]


def _impact_values(impact: RegionImpact, by: str) -> np.ndarray:
    table = {"point_score": impact.point_score, "map_mean": impact.map_mean, "light": impact.light,
             "shadow": impact.shadow}
    values = table.get(by)
    if values is None:
        raise fail("by", repr(by), "'point_score', 'map_mean', or a score computed in this mode ('light', 'shadow')",
                   "use by='point_score' (each region's own point) or by='map_mean' (the map inside the region)")
    return values


def region_means(maps: np.ndarray, labels: np.ndarray, regions: Regions) -> np.ndarray:
    """Mean of each ``(T, *spatial)`` map inside each region: ``(T, R)``."""
    lab = labels.reshape(-1)
    index = np.searchsorted(regions.ids, lab)
    inside = (index < len(regions.ids)) & (regions.ids[np.minimum(index, len(regions.ids) - 1)] == lab)
    flat = maps.reshape(maps.shape[0], -1)
    sums = np.stack([np.bincount(index[inside], weights=m[inside], minlength=len(regions.ids)) for m in flat])
    return sums / regions.sizes[None, :]


def region_impact(result: GLASResult, labels: Any, regions: Regions) -> RegionImpact:
    """Read each region's impact off a GLAS result whose points are the region centroids."""
    if result.points.shape != regions.centroids.shape or not np.allclose(result.points, regions.centroids):
        raise fail("result", f"a result with {result.points.shape[0]} search points",
                   f"a result whose points are the {len(regions.ids)} region centroids, in order",
                   "explain with points=regions.centroids (explain_regions does this)")
    light = None if result.light_scores is None else to_numpy(result.light_scores)
    shadow = None if result.shadow_scores is None else to_numpy(result.shadow_scores)
    point_score = fusion_weight(light, shadow, result.mode)
    maps = result.to_numpy()
    return RegionImpact(regions=regions, point_score=point_score, light=light, shadow=shadow,
                        map_mean=region_means(maps, to_numpy(labels), regions))


@dataclass(frozen=True)
class RegionExplanation:
    """A GLAS result over region centroids and the impact of every region."""

    result: GLASResult
    impact: RegionImpact


def explain_regions(score_fn: Callable[[Any], Any], x: Any, labels: Any, *, sigma_px: Any,
                    spatial_axes: Sequence[int] = (-3, -2, -1), background: int | None = 0,
                    names: dict[int, str] | Sequence[str] | None = None, **kwargs: Any) -> RegionExplanation:
    """GLAS with one search point per labelled region (the paper's atlas centroids).

    Parameters
    ----------
    score_fn, x
        As in :func:`glas_core.explain`; ``x`` is one example, e.g. ``(C, D, H, W)``.
    labels : array of int
        Label volume of the spatial shape of ``x``.
    sigma_px : float or triple
        Scales in voxels (the paper uses 10 and 15 on MRI); grid cells have no meaning here.
    spatial_axes : sequence of int
        Spatial axes of ``x`` (default the last three).
    **kwargs
        ``mode``, ``lam``, ``baseline``, ``batch_size``, ``progress``.
    """
    if "sigma" in kwargs or "grid" in kwargs or "points" in kwargs:
        given = [k for k in ("sigma", "grid", "points") if k in kwargs]
        raise fail(given[0], f"{given[0]}=", "left out: the search points are the region centroids",
                   "give the scales in voxels with sigma_px= (e.g. sigma_px=10 as in the paper)")
    lab = to_numpy(labels)
    axes = normalize_spatial_axes(spatial_axes, x.ndim)
    spatial = tuple(int(x.shape[a]) for a in axes)
    if lab.shape != spatial:
        raise fail("labels", f"shape {lab.shape}", f"the spatial shape of x, {spatial}",
                   "resample the atlas to the image grid (or check spatial_axes)")
    regions = regions_from_labels(lab, background=background, names=names)
    result = explain(score_fn, x, points=regions.centroids, sigma_px=sigma_px, spatial_axes=spatial_axes, **kwargs)
    return RegionExplanation(result=result, impact=region_impact(result, lab, regions))


class CohortAccumulator:
    """Sum GLAS maps and region impacts over a cohort, one example at a time.

    Only the running sums are kept, so a cohort never has to fit in memory. ``map()``
    returns the summed map min-max normalised to [0, 1] (the paper: "linearly integrated
    and normalized").
    """

    def __init__(self, n_spatial: int = 3) -> None:
        self.n_spatial = n_spatial
        self._map_sum: np.ndarray | None = None
        self._impact_sum: dict[str, np.ndarray] = {}
        self._regions: Regions | None = None
        self.count = 0

    def add(self, saliency: Any, impact: RegionImpact | None = None, *, target: int = 0) -> None:
        """Add one example: its map (``spatial`` or ``(T, *spatial)``, row ``target``) and region impact."""
        m = to_numpy(saliency).astype(np.float64)
        if m.ndim == self.n_spatial + 1:
            m = m[target]
        if m.ndim != self.n_spatial or (self._map_sum is not None and m.shape != self._map_sum.shape):
            expected = self._map_sum.shape if self._map_sum is not None else f"a {self.n_spatial}-D map"
            raise fail("saliency", f"shape {m.shape}", f"the cohort's map shape {expected}",
                       "explain every example on the same (atlas) grid")
        if impact is not None:
            if self._regions is not None and not np.array_equal(self._regions.ids, impact.regions.ids):
                raise fail("impact", "regions with other labels", "the cohort's regions",
                           "explain every volume with the same atlas")
            self._regions = impact.regions
            for key in ("point_score", "map_mean"):
                row = _impact_values(impact, key)[target]
                self._impact_sum[key] = row if key not in self._impact_sum else self._impact_sum[key] + row
        self._map_sum = m if self._map_sum is None else self._map_sum + m
        self.count += 1

    def merge(self, other: CohortAccumulator) -> CohortAccumulator:
        """Add the sums of ``other`` (e.g. a worker's share of the cohort) to this one; returns self.

        The result is the same as adding every example of both to one accumulator.
        """
        if not isinstance(other, CohortAccumulator) or other.n_spatial != self.n_spatial:
            raise fail("other", type(other).__name__ if not isinstance(other, CohortAccumulator)
                       else f"a {other.n_spatial}-D cohort", f"a CohortAccumulator of {self.n_spatial}-D maps",
                       "merge accumulators built with the same n_spatial")
        if other._map_sum is None:
            return self
        if self._map_sum is not None and other._map_sum.shape != self._map_sum.shape:
            raise fail("other", f"maps of shape {other._map_sum.shape}",
                       f"the cohort's map shape {self._map_sum.shape}",
                       "explain every example on the same (atlas) grid")
        if other._regions is not None:
            if self._regions is not None and not np.array_equal(self._regions.ids, other._regions.ids):
                raise fail("other", "regions with other labels", "the cohort's regions",
                           "explain every volume with the same atlas")
            self._regions = other._regions
            for key, row in other._impact_sum.items():
                self._impact_sum[key] = row.copy() if key not in self._impact_sum else self._impact_sum[key] + row
        self._map_sum = other._map_sum.copy() if self._map_sum is None else self._map_sum + other._map_sum
        self.count += other.count
        return self

    def map(self) -> np.ndarray:
        """The cohort map: the sum of all maps, min-max normalised to [0, 1]."""
        if self._map_sum is None:
            raise fail("cohort", "no maps", "at least one added map", "call add(saliency) first")
        lo, hi = self._map_sum.min(), self._map_sum.max()
        return np.zeros_like(self._map_sum) if hi <= lo else (self._map_sum - lo) / (hi - lo)

    def ranking(self, by: str = "point_score") -> list[tuple[str, float]]:
        """Regions ranked by their summed impact, normalised so the top region is 1."""
        if self._regions is None or by not in self._impact_sum:
            raise fail("cohort", "no region impacts" if self._regions is None else repr(by),
                       "impacts added with add(saliency, impact) and by in ('point_score', 'map_mean')",
                       "pass the RegionImpact of every volume to add()")
        total = self._impact_sum[by]
        scaled = total / total.max() if total.max() > 0 else total
        order = np.argsort(-scaled, kind="stable")
        return [(self._regions.names[i], float(scaled[i])) for i in order]
