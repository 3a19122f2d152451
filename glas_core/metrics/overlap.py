"""Overlap of a map with the ground truth: IoU over thresholds (the paper's Table 3), relevance mass."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..errors import fail
from ..normalize import minmax_normalize
from ._inputs import boolean_mask, saliency_map, same_shape

DEFAULT_IOU_THRESHOLDS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


def iou_at_thresholds(
    saliency, target, thresholds: Sequence[float] = DEFAULT_IOU_THRESHOLDS
) -> np.ndarray:
    """IoU between the thresholded, min-max normalised map (``S > t``) and the ground truth.

    GLAS paper, Table 3. Returns one IoU per threshold; an empty union counts as IoU 1.
    """
    mask = boolean_mask(target)
    s = saliency_map(saliency, ndim=mask.ndim)
    same_shape(s, mask.shape, "the ground truth", "resize the map to the image size first")
    t = np.asarray(thresholds, dtype=np.float64)
    if t.ndim != 1 or t.size == 0 or not np.all((t >= 0) & (t < 1)):
        raise fail("thresholds", thresholds, "a non-empty 1-d sequence of numbers in [0, 1)",
                   "use the default (0.1, 0.2, ..., 0.9)")
    norm = minmax_normalize(s)
    out = np.empty(t.size)
    for i, ti in enumerate(t):
        b = norm > ti
        union = np.logical_or(b, mask).sum()
        out[i] = 1.0 if union == 0 else np.logical_and(b, mask).sum() / union
    return out


def mean_iou(
    saliencies: Sequence, targets: Sequence, thresholds: Sequence[float] = DEFAULT_IOU_THRESHOLDS
) -> np.ndarray:
    """Mean over images of :func:`iou_at_thresholds`: one value per threshold."""
    if len(saliencies) != len(targets) or len(targets) == 0:
        raise fail("targets", f"{len(targets)} ground truths for {len(saliencies)} maps",
                   "one ground truth per map, at least one image", "pass one map and one mask per image")
    return np.mean([iou_at_thresholds(s, t, thresholds) for s, t in zip(saliencies, targets)], axis=0)


def relevance_mass(saliency, target) -> float:
    """Share of the positive saliency that falls inside the mask (Arras et al. 2022).

    ``sum(max(S, 0) inside) / sum(max(S, 0))``; 0.0 when the map has no positive value.
    """
    mask = boolean_mask(target)
    s = saliency_map(saliency, ndim=mask.ndim)
    same_shape(s, mask.shape, "the ground truth", "resize the map to the image size first")
    pos = np.clip(s, 0.0, None)
    total = pos.sum()
    return float(pos[mask].sum() / total) if total > 0 else 0.0
