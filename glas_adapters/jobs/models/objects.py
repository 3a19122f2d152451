"""Detectors and segmenters a job explains: one map per detection or class region of each image.

An :class:`ObjectModel` takes an ``(H, W, 3)`` image in [0, 1] and returns the adapters'
:class:`~glas_adapters.targets.DetectionExplanation` (``kind = "detector"``) or
:class:`~glas_adapters.targets.SegmentExplanation` (``kind = "segmenter"``), its boxes in
pixels of that image and its maps ``(T, H, W)`` over it. :class:`TorchObjectModel` runs a
PyTorch callable through :func:`glas_adapters.torch.explain_detections` /
:func:`~glas_adapters.torch.explain_segments`; the HuggingFace ones are in
:mod:`~glas_adapters.jobs.models.hf_objects`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from glas_core.errors import GLASError, fail

from ...targets.detections import NoDetectionError

#: ``--min-score`` when none is given: the adapters' default.
DEFAULT_MIN_SCORE = 0.5
KINDS = ("detector", "segmenter")


class ObjectModel:
    """A detector or a segmenter seen through [0, 1] pixels.

    Subclasses set ``kind``, ``class_names`` (or None) and ``description`` and implement
    :meth:`explain_image`.
    """

    kind: str
    class_names: list[str] | None = None
    description: str = "a model"
    runtime: str | None = "torch"
    runtime_note: str | None = None
    plain_resize = True  # the maps lie over the image as it was read

    def threads(self) -> int | None:
        """torch's intra-op threads."""
        import torch

        return int(torch.get_num_threads())

    def label(self, index: int) -> str:
        """The class name of ``index`` (``class <index>`` when names are unknown)."""
        if self.class_names is not None and 0 <= index < len(self.class_names):
            return self.class_names[index]
        return f"class {index}"

    def explain(self, image: np.ndarray, settings: Any) -> Any:
        """The explanation of one ``(H, W, 3)`` image in [0, 1] with the job's ``settings`` (a JobSpec)."""
        if len(settings.sigmas) != 1 or settings.recursive:
            raise fail("--sigma/--recursive", f"several scales or --recursive with a {self.kind}",
                       f"one --sigma value and no --recursive for a {self.kind}",
                       "pass one --sigma value and no --recursive")
        common = dict(grid=settings.grid, sigma=settings.sigmas[0], mode=settings.mode,
                      batch_size=settings.batch_size, progress=settings.progress)
        if self.kind != "detector":
            return self.explain_image(image, common)
        min_score = DEFAULT_MIN_SCORE if settings.min_score is None else settings.min_score
        common.update(min_score=min_score, max_detections=settings.max_detections)
        try:
            return self.explain_image(image, common)
        except GLASError as exc:
            raise _min_score_error(exc, min_score) from None

    def explain_image(self, image: np.ndarray, options: dict[str, Any]) -> Any:  # pragma: no cover - interface
        """The adapter's explanation of ``image`` with ``options`` (grid, sigma, ..., min_score)."""
        raise NotImplementedError


class TorchObjectModel(ObjectModel):
    """A PyTorch detector or segmenter taking ``(B, 3, H, W)`` pixels in [0, 1].

    Parameters
    ----------
    model : callable
        A detector returning torchvision's detections (or ``(logits, boxes)``), or a
        segmenter returning ``(B, C, h, w)`` logits (:mod:`glas_adapters.targets`).
    kind : {"detector", "segmenter"}
        Which.
    device : torch.device
        Where the image goes.
    class_names : list of str, optional
        The name of each class index.
    description : str
        For figure titles.
    """

    def __init__(self, model: Any, kind: str, device: Any, class_names: list[str] | None = None,
                 description: str = "a PyTorch model") -> None:
        if kind not in KINDS:
            raise fail("kind", repr(kind), "'detector' or 'segmenter'", "pass kind='detector' or kind='segmenter'")
        self.model = model
        self.kind = kind
        self.device = device
        self.class_names = class_names
        self.description = description

    def explain_image(self, image: np.ndarray, options: dict[str, Any]) -> Any:
        import torch

        from glas_adapters.torch import explain_detections, explain_segments

        x = torch.as_tensor(np.ascontiguousarray(np.moveaxis(image, -1, 0)), dtype=torch.float32, device=self.device)
        explain = explain_detections if self.kind == "detector" else explain_segments
        return explain(self.model, x, **options)


def _min_score_error(exc: GLASError, min_score: float) -> GLASError:
    """The adapters' "no detection above min_score" refusal in the command's words; other errors as they are."""
    if not isinstance(exc, NoDetectionError):
        return exc
    if exc.best_score is None:
        return fail("--min-score", min_score, "at most the score of a detection on this image (the detector found "
                    "no box on it)", "check the image and the model, or skip it with --keep-going")
    best = exc.best_score
    return fail("--min-score", min_score, f"at most the highest detection score on this image, {best:.4g}",
                f"lower it (e.g. --min-score {_below(best)}), or skip such images with --keep-going")


def _below(score: float) -> str:
    """A round value at most ``score``: two decimals, rounded down."""
    return f"{max(0.0, np.floor(score * 100) / 100):.2f}"
