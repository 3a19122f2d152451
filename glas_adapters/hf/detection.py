"""HuggingFace object detectors explained by GLAS: every detection of an image from one sweep.

>>> from glas_adapters.hf import explain_detections                        # doctest: +SKIP
>>> exp = explain_detections(model, processor, image, min_score=0.7)       # doctest: +SKIP
>>> exp.boxes, exp.labels, exp.maps.shape                                   # (T, 4), (T,), (T, H, W)
>>> exp = explain_detections(owl, owl_processor, image, text_queries=["a cat", "a remote"])  # doctest: +SKIP

``model`` is an ``AutoModelForObjectDetection`` (DETR, Conditional DETR, Deformable-style
DETRs, RT-DETR, YOLOS) or, with ``text_queries``, an ``AutoModelForZeroShotObjectDetection``
(OWL-ViT, OWLv2). :class:`HFDetector` wraps it with its processor into a torch detector of
the image's own pixels: the processor's steps rebuilt in torch
(:class:`~glas_adapters.hf.object_pixels.ProcessorPixels`), the model, then the processor's
own ``post_process_object_detection`` with threshold 0 and the image's size, so boxes are
xyxy pixels of the image. The orchestrator
(:func:`glas_adapters._engine.objects.explain_objects`) scores each perturbed image's
detections by D-RISE's similarity (:func:`glas_adapters.targets.drise_similarity`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

import glas_core
from glas_core.config import config_from
from glas_core.errors import fail, quoted

from .._common import ProgressFn
from .._engine.objects import explain_objects
from ..targets import Detections
from ..torch.backend import TorchBackend
from ..torch.inputs import layout_of
from .checks import evaluating
from .object_pixels import ProcessorPixels, image_pixels
from .pixels import model_device_dtype, split_processor


def _is_owl(model: Any) -> bool:
    return type(model).__name__.startswith(("OwlViT", "Owlv2"))


def _text_inputs(model: Any, processor: Any, text_queries: Any) -> dict[str, torch.Tensor] | None:
    """Tokenised text queries of an OWL model ``(Q, L)``; None for a closed-set detector."""
    owl = _is_owl(model)
    if text_queries is None:
        if owl:
            raise fail("text_queries", "None", f"the objects to look for, for {type(model).__name__}",
                       "pass text_queries=['a photo of a cat', 'a photo of a dog']")
        return None
    if not owl:
        raise fail("text_queries", quoted(text_queries), f"None for {type(model).__name__} (a closed-set detector)",
                   "leave text_queries out, or use an OWL-ViT / OWLv2 model")
    queries = [text_queries] if isinstance(text_queries, str) else list(text_queries)
    if not queries or not all(isinstance(q, str) and q.strip() for q in queries):
        raise fail("text_queries", quoted(text_queries), "a non-empty list of non-empty strings",
                   "pass e.g. text_queries=['a cat', 'a remote control']")
    if getattr(processor, "tokenizer", None) is None or not callable(getattr(processor, "image_processor", None)):
        raise fail("processor", type(processor).__name__, "the OWL processor with its tokenizer (text queries)",
                   "pass AutoProcessor.from_pretrained(<the model's name>), not only its image processor")
    encoded = processor(text=[queries], padding=True, return_tensors="pt")  # pads after EOS: no effect (causal)
    return {"input_ids": encoded["input_ids"], "attention_mask": encoded["attention_mask"]}


class HFDetector(torch.nn.Module):
    """A HuggingFace detector as a torch detector of the image's own pixels.

    ``forward`` takes ``(B, 3, H, W)`` pixels in [0, 1] at the size of the image it was built
    for and returns torchvision-style detections: a list of B dicts with ``boxes`` (xyxy pixels
    of that image), ``scores`` and ``labels``, from the processor's
    ``post_process_object_detection`` with threshold 0 (every query it keeps; DETR-like
    post-processors keep each query's best class, top-k ones the best query-class pairs).

    Parameters
    ----------
    model : transformers model
        ``AutoModelForObjectDetection`` or ``AutoModelForZeroShotObjectDetection``.
    processor : transformers processor or image processor
        The model's own (Pillow backend); an OWL model needs the processor with its tokenizer.
    image_hwc : numpy.ndarray
        The clean uint8 ``(H, W, 3)`` image; the processor's steps are checked on it.
    text_queries : list of str, optional
        OWL-ViT / OWLv2's queries; label ``q`` is query ``q``.
    """

    def __init__(self, model: Any, processor: Any, image_hwc: Any, text_queries: Any = None) -> None:
        super().__init__()
        self.model = model
        self.image_processor, _ = split_processor(processor, tokenizer=False)
        if not callable(getattr(self.image_processor, "post_process_object_detection", None)):
            raise fail("processor", type(self.image_processor).__name__,
                       "a detector's processor with post_process_object_detection",
                       "pass the processor saved with the detector (AutoProcessor.from_pretrained(<its name>))")
        self.text = _text_inputs(model, processor, text_queries)
        self.pixels = ProcessorPixels.from_processor(self.image_processor, image_hwc)
        self.image_size = (int(image_hwc.shape[0]), int(image_hwc.shape[1]))
        self.rows = 0

    def n_classes(self) -> int | None:
        """The labels the detector can give: its classes, or the number of text queries."""
        if self.text is not None:
            return int(self.text["input_ids"].shape[0])
        count = getattr(getattr(self.model, "config", None), "num_labels", None)
        return int(count) if isinstance(count, int) else None

    def raw(self, pixels: torch.Tensor) -> Any:
        """The model's outputs on ``(B, 3, H, W)`` pixels in [0, 1]."""
        device, dtype = model_device_dtype(self.model)
        inputs = self.pixels(pixels.to(device))
        inputs["pixel_values"] = inputs["pixel_values"].to(dtype)
        if self.text is not None:
            rows = int(pixels.shape[0])
            inputs.update({k: v.to(device).repeat(rows, 1) for k, v in self.text.items()})
        self.rows += int(pixels.shape[0])
        return self.model(**inputs)

    def forward(self, pixels: torch.Tensor) -> list[dict[str, torch.Tensor]]:
        """torchvision-style detections of ``(B, 3, H, W)`` pixels in [0, 1]."""
        if pixels.ndim != 4 or tuple(int(s) for s in pixels.shape[-2:]) != self.image_size:
            raise fail("pixels", f"a tensor of shape {tuple(pixels.shape)}",
                       f"a (B, 3, {self.image_size[0]}, {self.image_size[1]}) batch (the image's size)",
                       "build the HFDetector on the image you explain")
        outputs = self.raw(pixels)
        sizes = [self.image_size] * int(pixels.shape[0])
        found = self.image_processor.post_process_object_detection(outputs, threshold=0.0, target_sizes=sizes)
        return [{k: d[k] for k in ("boxes", "scores", "labels")} for d in found]


def explain_detections(
    model: Any,
    processor: Any,
    image: Any,
    *,
    min_score: float = 0.5,
    max_detections: int | None = None,
    boxes: Any = None,
    labels: Any = None,
    text_queries: Sequence[str] | None = None,
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
    """Explain every detection of a HuggingFace detector on one image, in one sweep of ``2P + 1`` rows.

    The image is perturbed at its own size (GLAS's lights and shadows on its pixels); each
    perturbed image is rounded to uint8 and goes through the processor's steps rebuilt in torch
    (checked on the clean image against the processor itself), the model, and the processor's
    ``post_process_object_detection`` with threshold 0 and the image's size. Each detection's
    score on a perturbed image is D-RISE's similarity (Petsiuk et al. 2021, Eq. 3): the best
    ``IoU * score`` over that image's detections of the same label, where a detection's score
    is its score of its own label as the post-processor reports it (a query whose best class
    changed no longer counts for the old one). All detections are the columns of one sweep;
    the cost is ``2P + 2`` model rows (the clean pass and the sweep), chunked by ``batch_size``.

    Parameters
    ----------
    model : transformers model
        ``AutoModelForObjectDetection`` (DETR, Conditional DETR, RT-DETR, YOLOS, ...) or
        ``AutoModelForZeroShotObjectDetection`` (OWL-ViT, OWLv2, with ``text_queries``).
        Run in eval mode; its train/eval flags are given back afterwards.
    processor : transformers processor or image processor
        The model's own, with the Pillow backend (``...ImageProcessorPil`` or
        ``AutoProcessor.from_pretrained(name, backend="pil")``); OWL models need the processor
        with its tokenizer.
    image : PIL.Image, numpy array or torch tensor
        One uint8 RGB image, ``(H, W, 3)`` or ``(3, H, W)``; boxes and maps are in its pixels.
    min_score : float
        Explain the detections scoring at least this on the clean image.
    max_detections : int, optional
        Explain only the best-scoring ones.
    boxes, labels : array, optional
        Explain these ``(T, 4)`` xyxy pixel boxes of classes ``labels`` instead (each must be
        found on the clean image).
    text_queries : list of str, optional
        What an OWL model looks for ("why did it find a cat here"); label ``q`` is query ``q``.
    grid, sigma, sigma_px, mode, lam, baseline, batch_size, progress, config
        As in :func:`glas_adapters.torch.explain`; the baseline is in [0, 1] pixels.

    Returns
    -------
    DetectionExplanation
        ``boxes``, ``labels``, ``scores`` and ``maps`` ``(T, H, W)`` (a torch tensor on the
        model's device), ``passes`` and the core's ``result``.

    Raises
    ------
    GLASError
        No detection scores ``min_score`` (the message gives the highest score), a box outside
        the image, swapped corners or normalised coordinates, a label the model does not have,
        an OWL model without ``text_queries``, a float image, a processor whose steps are not
        rebuilt here.
    """
    checked = config_from(config, grid=grid, sigma=sigma, sigma_px=sigma_px, mode=mode, lam=lam,
                          batch_size=batch_size, points=None)
    hwc, pixels = image_pixels(image)
    detector = HFDetector(model, processor, hwc, text_queries)
    target = Detections(min_score=min_score, max_detections=max_detections, boxes=boxes, labels=labels,
                        num_classes=detector.n_classes())
    return _run(detector, model, pixels, target, checked, baseline, progress)


def _run(wrapper: torch.nn.Module, model: Any, pixels: torch.Tensor, target: Any, config: Any, baseline: Any,
         progress: Any) -> Any:
    """One image through the orchestrator on the torch backend, the model in eval mode."""
    device, _ = model_device_dtype(model)
    example = pixels.to(device)
    backend = TorchBackend(wrapper, layout_of(example[None]), True, input_name="image", baseline_name="baseline")
    with evaluating(model):
        return explain_objects(backend, target, config=config, baseline=baseline, progress=progress)
