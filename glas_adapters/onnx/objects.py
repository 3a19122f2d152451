"""What an ONNX detector or segmenter found, explained: one map per box or region, from one sweep.

>>> from glas_adapters import onnx as glas_onnx
>>> exp = glas_onnx.explain_detections("detector.onnx", image,                    # doctest: +SKIP
...                                    output_names={"boxes": "det_boxes", "scores": "det_scores",
...                                                  "labels": "det_classes"})
>>> seg = glas_onnx.explain_segments("segmenter.onnx", image, output_name="logits")  # doctest: +SKIP

The caller names the outputs: a detector's batched ``boxes`` ``(N, M, 4)`` (xyxy pixels),
``scores`` ``(N, M)`` and ``labels`` ``(N, M)`` (optionally ``objectness``), or a
set-prediction detector's ``logits`` ``(N, M, C)`` and ``boxes``; a segmenter's logits
``(N, C, h, w)`` (or ``(N, h, w, C)`` for an NHWC model). The session runs through the one
orchestrator (:mod:`glas_adapters._engine.objects`), as classifiers do.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

import glas_core
from glas_core.errors import fail

from .._common import ProgressFn
from .._engine.objects import explain_target
from ..targets import Detections, SegmentRegions
from .backend import OnnxBackend
from .session import open_session

_DETECTION_ROLES = (("boxes", "scores", "labels"), ("boxes", "scores", "labels", "objectness"), ("logits", "boxes"),
                    ("logits", "boxes", "objectness"))


class NamedOutputsBackend(OnnxBackend):
    """An ONNX model whose named outputs are read as a detector's or a segmenter's (``roles`` in order)."""

    def __init__(self, model: Any, images: Any, roles: Mapping[str, str], layout: str | None, session_options: Any,
                 providers: Sequence[Any] | None) -> None:
        self.roles = tuple(roles)
        super().__init__(model, images, layout, session_options, providers, output_names=list(roles.values()))

    def outputs(self, batch: np.ndarray, owners: np.ndarray) -> Any:
        arrays = self.runner.named_outputs(batch)
        if self.roles == ("logits",):
            return arrays[0]
        if self.roles[0] == "logits":
            return tuple(arrays)
        return dict(zip(self.roles, arrays))


def _detection_roles(output_names: Any) -> dict[str, str]:
    if not isinstance(output_names, Mapping) or tuple(output_names) not in _DETECTION_ROLES:
        raise fail("output_names", type(output_names).__name__ if not isinstance(output_names, Mapping)
                   else f"the roles {list(output_names)}",
                   "a dict from 'boxes', 'scores', 'labels' (and optionally 'objectness'), or from 'logits', "
                   "'boxes', to the model's output names, in that order",
                   "pass e.g. output_names={'boxes': 'det_boxes', 'scores': 'det_scores', 'labels': 'det_classes'}")
    return dict(output_names)


def explain_detections(
    model: Any,
    images: Any,
    *,
    output_names: Mapping[str, str] | None = None,
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
    layout: str | None = None,
    session_options: Any = None,
    providers: Sequence[Any] | None = None,
) -> Any:
    """Explain every detection of an ONNX detector in one sweep (D-RISE's similarity as the score).

    Parameters
    ----------
    model
        A ``.onnx`` path or an ``onnxruntime.InferenceSession`` with one image input.
    images
        One image or a batch in the model's layout (then a list of explanations).
    output_names : dict, optional
        Which output is which (see the module's docstring); default the outputs named
        ``boxes``, ``scores`` and ``labels``.
    min_score, max_detections, boxes, labels, probabilities, num_classes
        What to explain (:class:`glas_adapters.targets.Detections`).
    grid, sigma, sigma_px, mode, lam, baseline, batch_size, progress, config, layout, session_options, providers
        As in :func:`glas_adapters.onnx.explain`.

    Returns
    -------
    DetectionExplanation or list of DetectionExplanation
    """
    roles = _detection_roles({"boxes": "boxes", "scores": "scores", "labels": "labels"} if output_names is None
                             else output_names)
    target = Detections(min_score=min_score, max_detections=max_detections, boxes=boxes, labels=labels,
                        probabilities=probabilities, num_classes=num_classes)
    backend = NamedOutputsBackend(model, images, roles, layout, session_options, providers)
    return explain_target(backend, target, config, baseline, progress, grid=grid, sigma=sigma, sigma_px=sigma_px,
                          mode=mode, lam=lam, batch_size=batch_size)


def explain_segments(
    model: Any,
    images: Any,
    *,
    output_name: str | None = None,
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
    layout: str | None = None,
    session_options: Any = None,
    providers: Sequence[Any] | None = None,
) -> Any:
    """Explain every class region of an ONNX segmenter in one sweep (a region's mean log-probability).

    Parameters
    ----------
    model
        A ``.onnx`` path or an ``onnxruntime.InferenceSession`` with one image input.
    images
        One image or a batch in the model's layout.
    output_name : str, optional
        The logits output (default: the model's first output).
    classes, masks, probabilities
        What to explain (:class:`glas_adapters.targets.SegmentRegions`).
    grid, sigma, sigma_px, mode, lam, baseline, batch_size, progress, config, layout, session_options, providers
        As in :func:`glas_adapters.onnx.explain`.

    Returns
    -------
    SegmentExplanation or list of SegmentExplanation
    """
    if output_name is None:
        model = open_session(model, session_options, providers)
        output_name = model.get_outputs()[0].name
    target = SegmentRegions(classes=classes, masks=masks, probabilities=probabilities)
    backend = NamedOutputsBackend(model, images, {"logits": output_name}, layout, session_options, providers)
    return explain_target(backend, target, config, baseline, progress, grid=grid, sigma=sigma, sigma_px=sigma_px,
                          mode=mode, lam=lam, batch_size=batch_size)
