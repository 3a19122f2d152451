"""The pointing game (Zhang et al. 2016) with the GLAS paper's rule, PT-small, boxes to masks.

The paper's rule (Section 4, "Evaluation on target localization"): min-max normalise, threshold
at T > 0.95, the centroid of the biggest connected blob is the point.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from ..errors import fail
from ..normalize import minmax_normalize
from ._inputs import as_numpy, boolean_mask, saliency_map, same_shape

PointingRule = Literal["paper", "argmax", "torchray"]


def box_to_mask(box: Sequence[float], shape: Sequence[int]) -> np.ndarray:
    """Boolean mask of a box ``(x_min, y_min, x_max, y_max)`` on an image of ``shape = (H, W)``.

    Boxes are in pixel index coordinates, half-open: the box covers rows ``y_min .. y_max - 1``
    and columns ``x_min .. x_max - 1`` (so ``(0, 0, W, H)`` is the whole image). Fractional
    values are rounded to the nearest pixel edge.
    """
    if len(shape) != 2:
        raise fail("shape", tuple(shape), "(H, W)", "pass saliency.shape[-2:]")
    if len(box) != 4:
        raise fail("box", box, "(x_min, y_min, x_max, y_max)", "pass the four box edges in pixels")
    x0, y0, x1, y1 = (int(round(float(v))) for v in box)
    h, w = int(shape[0]), int(shape[1])
    if not (x1 > x0 and y1 > y0):
        raise fail("box", tuple(box), "a box with x_max > x_min and y_max > y_min",
                   "boxes are (x_min, y_min, x_max, y_max)")
    if x0 >= w or y0 >= h or x1 <= 0 or y1 <= 0:
        raise fail("box", tuple(box), f"a box that overlaps the {h} x {w} image",
                   "check the coordinate order (x before y) and that the box belongs to this image's size")
    mask = np.zeros((h, w), dtype=bool)
    mask[max(y0, 0) : min(y1, h), max(x0, 0) : min(x1, w)] = True  # a box partly outside is clipped
    return mask


def connected_components(binary) -> tuple[np.ndarray, int]:
    """Label the connected components of a boolean N-d array (full connectivity: 8 in 2-D).

    Returns ``(labels, n)`` with labels ``1..n`` in raster order of each component's first
    pixel and 0 for the background, like ``scipy.ndimage.label`` with a full structure.
    A plain breadth-first search, so the core stays numpy-only.
    """
    b = np.asarray(binary, dtype=bool)
    labels = np.zeros(b.shape, dtype=np.int64)
    offsets = [o for o in itertools.product((-1, 0, 1), repeat=b.ndim) if any(o)]
    shape = b.shape
    n = 0
    for start in zip(*np.nonzero(b)):
        if labels[start]:
            continue
        n += 1
        labels[start] = n
        queue = deque([start])
        while queue:
            p = queue.popleft()
            for o in offsets:
                q = tuple(pi + oi for pi, oi in zip(p, o))
                if all(0 <= qi < si for qi, si in zip(q, shape)) and b[q] and not labels[q]:
                    labels[q] = n
                    queue.append(q)
    return labels, n



def pointing_point(
    saliency, *, rule: PointingRule = "paper", threshold: float = 0.95
) -> tuple[float, ...]:
    """The point a saliency map points at, in pixel index coordinates ``(row, col, ...)``.

    Parameters
    ----------
    saliency : array (H, W) (or (1, H, W))
    rule : ``"paper"`` (default): the GLAS paper's rule (Section 4): min-max normalise, keep
        pixels with value ``> threshold`` (T = 0.95), take the biggest connected blob (8-connected;
        ties go to the blob met first in raster order) and return its centroid (the mean of its
        pixel indices, so it may be fractional). ``"argmax"`` and ``"torchray"``: the first
        maximum in raster order (Quantus and TorchRay use ``argmax``). A flat map points
        nowhere: every coordinate is NaN, and :func:`pointing_hit` counts it as a miss.
    threshold : float
        T of the paper rule, in the min-max normalised map.
    """
    s = saliency_map(saliency)
    if rule not in ("paper", "argmax", "torchray"):
        raise fail("rule", repr(rule), "'paper', 'argmax' or 'torchray'", "use rule='paper' (the GLAS paper's rule)")
    if not 0.0 <= threshold < 1.0:
        raise fail("threshold", threshold, "a number in [0, 1)", "use threshold=0.95 (the paper's T)")
    if not float(s.max() - s.min()) > 0:
        return (float("nan"),) * s.ndim  # a flat map has no maximum to point at
    if rule in ("argmax", "torchray"):
        return tuple(float(i) for i in np.unravel_index(int(np.argmax(s)), s.shape))
    labels, n = connected_components(minmax_normalize(s) > threshold)
    sizes = np.bincount(labels.ravel())[1:]
    biggest = int(np.argmax(sizes)) + 1
    return tuple(float(c.mean()) for c in np.nonzero(labels == biggest))


def pointing_hit(
    saliency,
    target,
    *,
    rule: PointingRule = "paper",
    tolerance: float | None = None,
    threshold: float = 0.95,
) -> bool:
    """Whether the map points inside the ground truth.

    Parameters
    ----------
    saliency : array (H, W) (or (1, H, W))
    target : boolean mask (H, W); use :func:`box_to_mask` for boxes.
    rule : see :func:`pointing_point`. ``"torchray"`` is TorchRay's rule: the argmax point
        is a hit when any ground-truth pixel lies within ``tolerance`` pixels (default 15).
    tolerance : float, optional
        Distance in pixels within which a ground-truth pixel counts; default 0 for
        ``"paper"`` and ``"argmax"`` (the point, rounded to the nearest pixel, must lie on
        the ground truth) and 15 for ``"torchray"``.
    """
    mask = boolean_mask(target)
    s = saliency_map(saliency, ndim=mask.ndim)
    same_shape(s, mask.shape, "the ground truth", "resize the map to the image size first")
    tol = (15.0 if rule == "torchray" else 0.0) if tolerance is None else float(tolerance)
    if tol < 0:
        raise fail("tolerance", tolerance, "a distance >= 0 pixels", "use tolerance=None (the rule's default)")
    point = np.asarray(pointing_point(s, rule=rule, threshold=threshold))
    if np.isnan(point).any():
        return False
    if tol == 0.0:
        idx = tuple(int(np.clip(np.floor(p + 0.5), 0, n - 1)) for p, n in zip(point, mask.shape))
        return bool(mask[idx])
    gt = np.stack(np.nonzero(mask), axis=1).astype(np.float64)
    if gt.size == 0:
        return False
    return bool(np.min(np.sum((gt - point) ** 2, axis=1)) <= tol**2)


@dataclass(frozen=True)
class PointingGameResult:
    """Hits and misses of a pointing game; ``accuracy = hits / (hits + misses)``."""

    hits: int
    misses: int
    hit_per_image: np.ndarray

    @property
    def accuracy(self) -> float:
        total = self.hits + self.misses
        return float(self.hits / total) if total else float("nan")


def pointing_game(
    saliencies: Sequence,
    targets: Sequence,
    *,
    rule: PointingRule = "paper",
    tolerance: float | None = None,
    threshold: float = 0.95,
) -> PointingGameResult:
    """Pointing game over a set of images: Acc = Hit / (Hit + Miss) (GLAS paper, Section 4).

    ``saliencies`` and ``targets`` are sequences of the same length (one map and one boolean
    mask per image), or one map and one mask. For PT-small, pass the subset where
    :func:`is_small` holds.
    """
    if not isinstance(targets, (list, tuple)) and np.ndim(as_numpy(targets, "targets")) == 2:
        saliencies, targets = [saliencies], [targets]  # one image: never iterate a map's rows
    if len(saliencies) != len(targets):
        raise fail("targets", f"{len(targets)} ground truths for {len(saliencies)} saliency maps",
                   "one ground truth per map", "pass one map and one mask per image")
    hits = np.array(
        [pointing_hit(s, t, rule=rule, tolerance=tolerance, threshold=threshold)
         for s, t in zip(saliencies, targets)],
        dtype=bool,
    )
    return PointingGameResult(int(hits.sum()), int((~hits).sum()), hits)


def is_small(target, image_shape: Sequence[int] | None = None) -> bool:
    """PT-small criterion: the ground truth covers less than a quarter of the image.

    ``target`` is a boolean mask (the union of the class's boxes, as in Cao et al. 2015), or a
    box ``(x_min, y_min, x_max, y_max)`` together with ``image_shape = (H, W)``.
    """
    if image_shape is not None:
        mask = box_to_mask(target, image_shape)
    else:
        mask = boolean_mask(target)
    return bool(mask.sum() < mask.size / 4.0)
