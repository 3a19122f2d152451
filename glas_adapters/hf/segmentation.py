"""HuggingFace semantic segmenters explained by GLAS: every class region of an image from one sweep.

>>> from glas_adapters.hf import explain_segments                          # doctest: +SKIP
>>> exp = explain_segments(model, processor, image)                        # every class present
>>> exp.classes, exp.masks.shape, exp.maps.shape                            # (T,), (T, H, W), (T, H, W)

``model`` is an ``AutoModelForSemanticSegmentation`` (SegFormer, DPT, UperNet, ...).
:class:`HFSegmenter` wraps it with its processor into a torch segmenter of the image's own
pixels: the processor's steps rebuilt in torch
(:class:`~glas_adapters.hf.object_pixels.ProcessorPixels`), the model, and its logits
upsampled bilinearly to the image's size as the processor's
``post_process_semantic_segmentation`` does, so the regions (the argmax) are the processor's
own segmentation map. Each region's score is its class's mean log-probability over it
(:func:`glas_adapters.targets.region_log_scores`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

import glas_core
from glas_core.config import config_from
from glas_core.errors import fail

from .._common import ProgressFn
from ..targets import SegmentRegions
from .detection import _run
from .object_pixels import ProcessorPixels, image_pixels
from .pixels import model_device_dtype, split_processor


class HFSegmenter(torch.nn.Module):
    """A HuggingFace semantic segmenter as a torch segmenter of the image's own pixels.

    ``forward`` takes ``(B, 3, H, W)`` pixels in [0, 1] at the size of the image it was built
    for and returns ``(B, C, H, W)`` logits: the model's logits upsampled with
    ``interpolate(mode="bilinear", align_corners=False)`` to ``(H, W)``, the step of the
    processor's ``post_process_semantic_segmentation`` before its argmax.

    Parameters
    ----------
    model : transformers model
        An ``AutoModelForSemanticSegmentation`` returning ``.logits`` ``(B, C, h, w)``.
    processor : transformers processor or image processor
        The model's own (Pillow backend).
    image_hwc : numpy.ndarray
        The clean uint8 ``(H, W, 3)`` image; the processor's steps are checked on it.
    """

    def __init__(self, model: Any, processor: Any, image_hwc: Any) -> None:
        super().__init__()
        self.model = model
        self.image_processor, _ = split_processor(processor, tokenizer=False)
        self.pixels = ProcessorPixels.from_processor(self.image_processor, image_hwc)
        self.image_size = (int(image_hwc.shape[0]), int(image_hwc.shape[1]))
        self.rows = 0

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        """``(B, C, H, W)`` logits of ``(B, 3, H, W)`` pixels in [0, 1], at the image's size."""
        if pixels.ndim != 4 or tuple(int(s) for s in pixels.shape[-2:]) != self.image_size:
            raise fail("pixels", f"a tensor of shape {tuple(pixels.shape)}",
                       f"a (B, 3, {self.image_size[0]}, {self.image_size[1]}) batch (the image's size)",
                       "build the HFSegmenter on the image you explain")
        device, dtype = model_device_dtype(self.model)
        inputs = self.pixels(pixels.to(device))
        self.rows += int(pixels.shape[0])
        out = self.model(pixel_values=inputs["pixel_values"].to(dtype))
        logits = out.logits if hasattr(out, "logits") else out
        if not isinstance(logits, torch.Tensor) or logits.ndim != 4:
            raise fail("model output", type(out).__name__, "semantic segmentation logits (B, C, h, w) in .logits",
                       "use an AutoModelForSemanticSegmentation")
        return torch.nn.functional.interpolate(logits, size=self.image_size, mode="bilinear", align_corners=False)


def explain_segments(
    model: Any,
    processor: Any,
    image: Any,
    *,
    classes: Any = None,
    masks: Any = None,
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
    """Explain every class region of a HuggingFace segmenter on one image, in one sweep of ``2P + 1`` rows.

    The image is perturbed at its own size; each perturbed image is rounded to uint8 and goes
    through the processor's steps rebuilt in torch (checked on the clean image), the model,
    and the bilinear upsampling of the processor's ``post_process_semantic_segmentation``.
    Each region's score is its class's mean log-softmax probability over the region, fused by
    Eq. 1-3 in the log domain. Cost: ``2P + 2`` model rows, chunked by ``batch_size``.

    Parameters
    ----------
    model : transformers model
        ``AutoModelForSemanticSegmentation`` (SegFormer, DPT, UperNet, ...), run in eval mode;
        its train/eval flags are given back afterwards.
    processor : transformers processor or image processor
        The model's own, with the Pillow backend.
    image : PIL.Image, numpy array or torch tensor
        One uint8 RGB image, ``(H, W, 3)`` or ``(3, H, W)``.
    classes : list of int, optional
        Explain these classes' regions of the processor's segmentation map (default: every
        class present); with ``masks``, the class of each mask.
    masks : array, optional
        ``(T, H, W)`` boolean regions of the image, each explained for its class.
    grid, sigma, sigma_px, mode, lam, baseline, batch_size, progress, config
        As in :func:`glas_adapters.torch.explain`; the baseline is in [0, 1] pixels.

    Returns
    -------
    SegmentExplanation
        ``classes``, ``masks`` ``(T, H, W)`` and ``maps`` ``(T, H, W)`` (a torch tensor on the
        model's device), ``passes`` and the core's ``result``.

    Raises
    ------
    GLASError
        A class the model does not have or does not find, a mask of another size than the
        image or with no pixel set, a float image, a processor whose steps are not rebuilt here.
    """
    checked = config_from(config, grid=grid, sigma=sigma, sigma_px=sigma_px, mode=mode, lam=lam,
                          batch_size=batch_size, points=None)
    hwc, pixels = image_pixels(image)
    segmenter = HFSegmenter(model, processor, hwc)
    target = SegmentRegions(classes=classes, masks=masks)
    return _run(segmenter, model, pixels, target, checked, baseline, progress)
