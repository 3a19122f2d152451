"""What a PyTorch detector or segmenter found, explained: one map per box or region, from one sweep.

>>> from glas_adapters.torch import explain_detections, explain_segments
>>> exp = explain_detections(detector, image, min_score=0.5)   # image (C, H, W)
>>> exp.boxes, exp.labels, exp.maps.shape                       # (T, 4), (T,), (T, H, W)
>>> seg = explain_segments(segmenter, image)                   # one map per class present
>>> seg.classes, seg.masks.shape, seg.maps.shape

The detector returns torchvision's list of dicts (``boxes``, ``scores``, ``labels``) or
``(logits, boxes)``; the segmenter ``(N, C, h, w)`` logits (:mod:`glas_adapters.targets`).
Both run through the one orchestrator (:mod:`glas_adapters._engine.objects`) on the torch
backend: forward passes under ``torch.no_grad()``, the model's state kept, maps on the
image's device.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from torch import Tensor

import glas_core
from glas_core.errors import fail

from .._common import ProgressFn
from .._engine.objects import TargetObject, explain_target
from ..targets import Detections, SegmentRegions
from .backend import TorchBackend
from .inputs import layout_of


def explain_detections(
    model: Callable[..., Any],
    image: Tensor,
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
    """Explain every detection of an image (or the ``boxes`` given) in one sweep of ``2P + 1`` rows.

    Each detection's score on a perturbed image is D-RISE's similarity: the best match of
    ``IoU * probability of the detection's class`` over the perturbed image's detections
    (:func:`glas_adapters.targets.drise_similarity`), fused by Eq. 1-3.

    Parameters
    ----------
    model : callable
        A batch ``(B, C, H, W)`` to torchvision-style detections (a list of B dicts with
        ``boxes`` (xyxy pixels), ``scores``, ``labels``), or ``(logits (B, M, C), boxes (B, M, 4))``.
    image : Tensor
        One image ``(C, H, W)`` or a batch ``(N, C, H, W)`` (then a list of explanations).
    min_score, max_detections, boxes, labels, probabilities, num_classes
        What to explain (:class:`glas_adapters.targets.Detections`).
    grid, sigma, sigma_px, mode, lam, baseline, batch_size, progress, config
        As in :func:`glas_adapters.torch.explain`.

    Returns
    -------
    DetectionExplanation or list of DetectionExplanation
        ``boxes``, ``labels``, ``scores`` and ``maps`` ``(T, H, W)`` on the image's device.
    """
    target = Detections(min_score=min_score, max_detections=max_detections, boxes=boxes, labels=labels,
                        probabilities=probabilities, num_classes=num_classes)
    return _explain(model, image, target, config, baseline, progress, grid=grid, sigma=sigma, sigma_px=sigma_px,
                    mode=mode, lam=lam, batch_size=batch_size)


def explain_segments(
    model: Callable[..., Any],
    image: Tensor,
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
    """Explain every class region of a segmentation (or the ``masks`` given) in one sweep.

    Each region's score is the mean over it of its class's log-probability
    (:func:`glas_adapters.targets.region_log_scores`), fused by Eq. 1-3 in the log domain.

    Parameters
    ----------
    model : callable
        A batch ``(B, C_in, H, W)`` to ``(B, C, h, w)`` segmentation logits.
    image : Tensor
        One image ``(C_in, H, W)`` or a batch (then a list of explanations).
    classes, masks, probabilities
        What to explain (:class:`glas_adapters.targets.SegmentRegions`): default every class
        of the model's clean segmentation, its region being the pixels it wins.
    grid, sigma, sigma_px, mode, lam, baseline, batch_size, progress, config
        As in :func:`glas_adapters.torch.explain`.

    Returns
    -------
    SegmentExplanation or list of SegmentExplanation
        ``classes``, ``masks`` ``(T, h, w)`` and ``maps`` ``(T, H, W)`` on the image's device.
    """
    target = SegmentRegions(classes=classes, masks=masks, probabilities=probabilities)
    return _explain(model, image, target, config, baseline, progress, grid=grid, sigma=sigma, sigma_px=sigma_px,
                    mode=mode, lam=lam, batch_size=batch_size)


def _explain(model: Callable[..., Any], image: Tensor, target: TargetObject, config: Any, baseline: Any,
             progress: Any, **settings: Any) -> Any:
    """The torch backend of one image or batch, explained for ``target``."""
    if not isinstance(image, Tensor) or image.ndim not in (3, 4):
        shown = f"shape {tuple(image.shape)}" if isinstance(image, Tensor) else type(image).__name__
        raise fail("image", shown, "one image (C, H, W) or a batch (N, C, H, W) tensor",
                   "convert it with torch.as_tensor and add a channel axis for grey images")
    single = image.ndim == 3
    layout = layout_of(image[None] if single else image)
    backend = TorchBackend(model, layout, single, input_name="image", baseline_name="baseline")
    return explain_target(backend, target, config, baseline, progress, **settings)
