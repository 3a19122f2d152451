"""What a Keras detector or segmenter found, explained: one map per box or region, from one sweep.

>>> from glas_adapters.tf import explain_segments
>>> seg = explain_segments(keras_segmenter, image)     # image (H, W, C); logits (N, h, w, C)  # doctest: +SKIP
>>> seg.classes, seg.masks.shape, seg.maps.shape      # (T,), (T, h, w), (T, H, W)  # doctest: +SKIP

Segmenters return channels-last ``(N, h, w, C)`` logits; detectors a dict of batched arrays
``{"boxes": (N, M, 4), "scores": (N, M), "labels": (N, M)}`` (xyxy pixels) or
``(logits (N, M, C), boxes (N, M, 4))`` (:mod:`glas_adapters.targets`). Both run through the
one orchestrator (:mod:`glas_adapters._engine.objects`) on the Keras backend
(:mod:`glas_adapters.tf.backend`); maps come back in the framework the images came in.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import glas_core

from .._common import ProgressFn
from .._engine.objects import explain_target
from ..targets import Detections, SegmentRegions
from .backend import KerasBackend


def explain_detections(
    model: Any,
    images: Any,
    *,
    min_score: float = 0.5,
    max_detections: int | None = None,
    boxes: Any = None,
    labels: Any = None,
    probabilities: Any = "softmax",
    num_classes: int | None = None,
    grid: int | Sequence[int] | None = None,
    sigma: Any = None,
    sigma_px: Any = None,
    mode: str | None = None,
    lam: float | None = None,
    baseline: Any = None,
    batch_size: int | None = None,
    progress: bool | ProgressFn | None = False,
    config: glas_core.GLASConfig | None = None,
) -> Any:
    """Explain every detection of a channels-last image in one sweep (D-RISE's similarity as the score).

    Parameters
    ----------
    model : Keras model or callable
        ``(B, H, W, C)`` images to detections (see the module's docstring).
    images : array
        One image ``(H, W, C)`` or a batch ``(N, H, W, C)`` (then a list of explanations).
    min_score, max_detections, boxes, labels, probabilities, num_classes
        What to explain (:class:`glas_adapters.targets.Detections`).
    grid, sigma, sigma_px, mode, lam, baseline, batch_size, progress, config
        As in :func:`glas_adapters.tf.explain`.

    Returns
    -------
    DetectionExplanation or list of DetectionExplanation
    """
    target = Detections(min_score=min_score, max_detections=max_detections, boxes=boxes, labels=labels,
                        probabilities=probabilities, num_classes=num_classes)
    return explain_target(KerasBackend(model, images), target, config, baseline, progress, grid=grid, sigma=sigma,
                          sigma_px=sigma_px, mode=mode, lam=lam, batch_size=batch_size)


def explain_segments(
    model: Any,
    images: Any,
    *,
    classes: Any = None,
    masks: Any = None,
    probabilities: str = "softmax",
    grid: int | Sequence[int] | None = None,
    sigma: Any = None,
    sigma_px: Any = None,
    mode: str | None = None,
    lam: float | None = None,
    baseline: Any = None,
    batch_size: int | None = None,
    progress: bool | ProgressFn | None = False,
    config: glas_core.GLASConfig | None = None,
) -> Any:
    """Explain every class region of a segmentation in one sweep (a region's mean log-probability).

    Parameters
    ----------
    model : Keras model or callable
        ``(B, H, W, C_in)`` images to ``(B, h, w, C)`` segmentation logits.
    images : array
        One image ``(H, W, C_in)`` or a batch (then a list of explanations).
    classes, masks, probabilities
        What to explain (:class:`glas_adapters.targets.SegmentRegions`).
    grid, sigma, sigma_px, mode, lam, baseline, batch_size, progress, config
        As in :func:`glas_adapters.tf.explain`.

    Returns
    -------
    SegmentExplanation or list of SegmentExplanation
    """
    target = SegmentRegions(classes=classes, masks=masks, probabilities=probabilities)
    return explain_target(KerasBackend(model, images), target, config, baseline, progress, grid=grid, sigma=sigma,
                          sigma_px=sigma_px, mode=mode, lam=lam, batch_size=batch_size)
