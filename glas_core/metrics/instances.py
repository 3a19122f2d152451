"""How many object instances a map tells apart, and (the weaker rule) how many it merely touches.

Recursive GLAS exists to find *further* instances (paper, Algorithm 1). A map that lights one
broad blob over two objects of one class has not found two instances, yet it exceeds 0.5 inside
both boxes. :func:`instances_separated` asks for separation: min-max normalise, take the
8-connected regions above ``level``, and for the ``n_regions`` largest check whether each
region's centroid lies inside a *different* instance. A flat map (all zeros after
normalisation) separates nothing; one blob over both objects separates at most one (its
centroid lies in one instance or between them).

:func:`instances_touched` is the older rule (an instance counts where the normalised map exceeds
``level`` anywhere inside it): it measures coverage, not separation, and one broad blob passes it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..errors import fail
from ..normalize import minmax_normalize
from ._inputs import as_numpy, boolean_mask, saliency_map, same_shape
from .pointing import box_to_mask, connected_components


def _instance_masks(instances: Sequence, shape: tuple[int, ...]) -> list[np.ndarray]:
    """Boolean masks of the instances: each one a mask of the map's shape or a box ``(x0, y0, x1, y1)``."""
    if isinstance(instances, np.ndarray) and instances.ndim == len(shape):
        instances = [instances]  # one mask, not a sequence of rows
    try:
        items = list(instances)
    except TypeError as exc:
        raise fail("instances", type(instances).__name__, "a sequence of boolean masks or boxes",
                   "pass one mask (or one (x_min, y_min, x_max, y_max) box) per instance") from exc
    if not items:
        raise fail("instances", "no instances", "at least one instance", "pass one mask or box per instance")
    masks = []
    for item in items:
        arr = as_numpy(item, "instances")
        if arr.ndim == 1 and arr.size == 4 and len(shape) == 2:
            masks.append(box_to_mask(tuple(float(v) for v in arr), shape))
            continue
        mask = boolean_mask(arr, "instances")
        if mask.shape != tuple(shape):
            raise fail("instances", f"a mask of shape {mask.shape}", f"masks of the map's shape {tuple(shape)}",
                       "resize the masks (or the map) to the image size, or pass boxes")
        masks.append(mask)
    return masks


def _largest_matching(options: list[set[int]]) -> int:
    """The most regions that can each be given a different instance among its ``options`` (a matching)."""
    owner: dict[int, int] = {}

    def augment(r: int, seen: set[int]) -> bool:
        for i in options[r]:
            if i in seen:
                continue
            seen.add(i)
            if i not in owner or augment(owner[i], seen):
                owner[i] = r
                return True
        return False

    return sum(augment(r, set()) for r in range(len(options)))


def separated_regions(saliency, *, level: float = 0.5, n_regions: int = 2) -> list[tuple[float, ...]]:
    """Centroids (pixel index coordinates) of the ``n_regions`` largest regions above ``level``.

    The map is min-max normalised; regions are 8-connected (full connectivity); ties in size go
    to the region met first in raster order. A flat map has no region: the list is empty.
    """
    s = saliency_map(saliency)
    if not 0.0 <= float(level) < 1.0:
        raise fail("level", level, "a number in [0, 1)", "use level=0.5")
    if isinstance(n_regions, bool) or not isinstance(n_regions, (int, np.integer)) or n_regions < 1:
        raise fail("n_regions", n_regions, "a positive int", "use n_regions=2 (two instances)")
    labels, n = connected_components(minmax_normalize(s) > float(level))
    if n == 0:
        return []
    sizes = np.bincount(labels.ravel())[1:]
    order = np.argsort(-sizes, kind="stable")[: int(n_regions)]
    return [tuple(float(c.mean()) for c in np.nonzero(labels == int(r) + 1)) for r in order]


def instances_separated(saliency, instances: Sequence, *, level: float = 0.5, n_regions: int | None = None) -> int:
    """How many instances the map separates (0 .. ``n_regions``).

    Min-max normalise the map, take the 8-connected regions above ``level``, keep the
    ``n_regions`` largest (default: one per instance), and count how many of them can each be
    matched to a *different* instance that holds its centroid (rounded to the nearest pixel).
    With two instances, 2 means "both separated": two regions, one inside each.

    Parameters
    ----------
    saliency : array (H, W) (or (1, H, W))
    instances : sequence
        One boolean mask of the map's shape, or one box ``(x_min, y_min, x_max, y_max)``
        (half-open pixel edges, as :func:`box_to_mask`), per instance.
    level : float
        Threshold of the normalised map (0.5).
    n_regions : int, optional
        Regions considered; None: as many as there are instances.

    Returns
    -------
    int
        0 for a flat map (no region), at most 1 for one blob over every instance.
    """
    s = saliency_map(saliency)
    masks = _instance_masks(instances, s.shape)
    for m in masks:
        same_shape(s, m.shape, "the instance masks", "resize the map to the image size first")
    centroids = separated_regions(s, level=level, n_regions=len(masks) if n_regions is None else n_regions)
    options = []
    for c in centroids:
        idx = tuple(int(np.clip(np.floor(p + 0.5), 0, n - 1)) for p, n in zip(c, s.shape))
        options.append({i for i, m in enumerate(masks) if m[idx]})
    return _largest_matching(options)


def instances_touched(saliency, instances: Sequence, *, level: float = 0.5) -> int:
    """How many instances hold at least one pixel where the min-max normalised map exceeds ``level``.

    The older "found" rule of the recursive benchmark. It measures coverage, not separation: one
    broad blob over both objects touches both, and a map that is high everywhere but one pixel
    touches every instance. A flat map touches none. Prefer :func:`instances_separated`.
    """
    s = saliency_map(saliency)
    masks = _instance_masks(instances, s.shape)
    norm = minmax_normalize(s)
    return sum(bool(norm[m].max() > float(level)) for m in masks if m.any())
