"""What a detection or segmentation explanation hands back: the targets found, and one map each."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np


@dataclasses.dataclass(frozen=True)
class DetectionExplanation:
    """The detections of one image and a GLAS map of each, from one sweep.

    Attributes
    ----------
    boxes : numpy.ndarray
        ``(T, 4)`` xyxy boxes in pixels of the image.
    labels : numpy.ndarray
        ``(T,)`` their classes.
    scores : numpy.ndarray
        ``(T,)`` their clean-image scores (the detector's score; for boxes the caller gave,
        the D-RISE similarity of the model's best match).
    maps : array
        ``(T, H, W)`` maps in the caller's framework, map t for box t.
    passes : int
        Forward rows the explanation cost (the clean pass and the sweep).
    result : glas_core.GLASResult
        The core's result (the search plan, the point scores, ``saliency``).
    """

    boxes: np.ndarray
    labels: np.ndarray
    scores: np.ndarray
    maps: Any
    passes: int
    result: Any


@dataclasses.dataclass(frozen=True)
class SegmentExplanation:
    """The regions of one image and a GLAS map of each, from one sweep.

    Attributes
    ----------
    classes : numpy.ndarray
        ``(T,)`` the class of each region.
    masks : numpy.ndarray
        ``(T, h, w)`` boolean regions on the model's output grid.
    maps : array
        ``(T, H, W)`` maps in the caller's framework.
    passes : int
        Forward rows the explanation cost.
    result : glas_core.GLASResult
        The core's result.
    """

    classes: np.ndarray
    masks: np.ndarray
    maps: Any
    passes: int
    result: Any


def explanation_of(described: dict[str, np.ndarray], maps: Any, passes: int, result: Any) -> Any:
    """The explanation object that fits a target's description."""
    if "boxes" in described:
        return DetectionExplanation(maps=maps, passes=passes, result=result, **described)
    return SegmentExplanation(maps=maps, passes=passes, result=result, **described)
