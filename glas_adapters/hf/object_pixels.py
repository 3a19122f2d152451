"""A detector's or segmenter's processor, rebuilt in torch: the image's own pixels in, ``pixel_values`` out.

Detections and segments are explained on the image the caller gives, at its size, so that
boxes and maps are in its pixels. GLAS perturbs that image (a ``(3, H, W)`` float tensor in
[0, 1], ``uint8 / 255``); each perturbed row is then rounded to uint8, as the image the
processor reads, and goes through the processor's steps in torch: Pillow's resize
(:func:`~glas_adapters.hf.resample.pil_resize`, or OWLv2's Gaussian and linear zoom), rescale,
normalise, and zero padding to the processor's output size (with DETR's ``pixel_mask``).

Every step is checked once on the clean image against the processor itself: the resized
pixels must equal the processor's (Pillow's pass order is taken from that comparison) and the
final ``pixel_values`` must match to float round-off, or the call is refused, naming the
processor. A processor this module does not rebuild is never approximated silently.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import torch

from glas_core.errors import fail

from .pixels import checked_image, split_processor
from .resample import pil_matching_order, pil_resize, scipy_axis_operator

#: how far the rebuilt ``pixel_values`` of the clean image may be from the processor's (float32 round-off
#: of the normalisation; OWLv2's float resize in another summation order)
PIXEL_TOLERANCE = 1e-4


def image_pixels(image: Any) -> tuple[np.ndarray, torch.Tensor]:
    """One uint8 image as the processor reads it ``(H, W, 3)`` and as GLAS perturbs it ``(3, H, W)`` in [0, 1].

    Accepts a PIL image, or a uint8 array or tensor ``(H, W, 3)`` or ``(3, H, W)``. Float
    images are refused: the processor rescales by 1/255, and a float image would be read in
    another pixel range than the one its perturbations are made in.
    """
    checked = checked_image(image)
    if not isinstance(checked, np.ndarray):
        checked = np.asarray(checked)  # PIL RGB -> (H, W, 3) uint8
    if checked.dtype != np.uint8:
        raise fail("image", f"an array of dtype {checked.dtype}", "a uint8 image (PIL, or (H, W, 3) uint8 values)",
                   "pass the image as loaded, e.g. np.asarray(PIL.Image.open(path).convert('RGB')), or convert "
                   "[0, 1] floats with (img * 255).round().astype(np.uint8)")
    hwc = checked if checked.shape[-1] == 3 else np.moveaxis(checked, 0, -1)
    hwc = np.ascontiguousarray(hwc)
    return hwc, torch.from_numpy(hwc).permute(2, 0, 1).to(torch.float32) / 255.0


def _accepted(image_processor: Any, **flags: Any) -> dict[str, Any]:
    """The processor's flags among ``flags`` (a processor without ``do_pad`` is not given one)."""
    return {k: v for k, v in flags.items() if hasattr(image_processor, k)}


def _pixel_values(out: Any) -> torch.Tensor:
    """The ``(C, h, w)`` pixel values of the processor's one image."""
    values = out["pixel_values"][0]
    return torch.as_tensor(np.asarray(values) if not isinstance(values, torch.Tensor) else values)


@dataclasses.dataclass
class ProcessorPixels:
    """The processor's ``pixel_values`` (and ``pixel_mask``) of any batch of perturbed images, in torch.

    Build it with :meth:`from_processor` on the clean image; call it on ``(B, 3, H, W)`` pixels in [0, 1].

    Attributes
    ----------
    kind : {"pil", "owlv2"}
        Pillow resize then rescale (DETR, YOLOS, RT-DETR, OWL-ViT, SegFormer, DPT ...), or
        OWLv2's rescale, square padding and SciPy resize.
    resized : (int, int)
        ``(h, w)`` after the resize.
    padded : (int, int)
        ``(h, w)`` of ``pixel_values``.
    """

    kind: str
    resized: tuple[int, int]
    padded: tuple[int, int]
    resample: int = 2
    order: str = "hv"
    rescale_factor: float | None = None
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    with_mask: bool = False
    operators: tuple[np.ndarray, np.ndarray] | None = None
    name: str = ""

    @classmethod
    def from_processor(cls, processor: Any, image_hwc: np.ndarray) -> ProcessorPixels:
        """Rebuild ``processor``'s steps and check them on the clean image.

        Raises
        ------
        GLASError
            When the rebuilt pixels differ from the processor's on the clean image.
        """
        image_processor, _ = split_processor(processor, tokenizer=False)
        name = type(image_processor).__name__
        if getattr(image_processor, "backend", "pil") != "pil":
            raise fail("processor", f"{name} (backend {image_processor.backend!r})",
                       "an image processor with the Pillow backend (the resize rebuilt here is Pillow's)",
                       f"load it with AutoImageProcessor.from_pretrained(name, backend='pil') or use {name}Pil")
        full = image_processor(images=image_hwc, return_tensors="pt")
        target = _pixel_values(full).to(torch.float32)
        mask = full.get("pixel_mask") if hasattr(full, "get") else None
        do_normalize = bool(getattr(image_processor, "do_normalize", False))
        mean = tuple(float(m) for m in np.atleast_1d(image_processor.image_mean)) if do_normalize else None
        std = tuple(float(s) for s in np.atleast_1d(image_processor.image_std)) if do_normalize else None
        factor = float(image_processor.rescale_factor) if getattr(image_processor, "do_rescale", False) else None
        padded = (int(target.shape[-2]), int(target.shape[-1]))
        if name.startswith("Owlv2"):
            pixels = cls._owlv2(image_processor, image_hwc, padded, factor, mean, std, name)
        else:
            pixels = cls._pil(image_processor, image_hwc, padded, factor, mean, std, mask is not None, name)
        clean = torch.from_numpy(image_hwc).permute(2, 0, 1)[None].to(torch.float32) / 255.0
        rebuilt = pixels(clean)["pixel_values"][0]
        diff = float((rebuilt - target).abs().max()) if rebuilt.shape == target.shape else float("inf")
        if not diff <= PIXEL_TOLERANCE:
            shown = f"{diff:.3g}" if np.isfinite(diff) else f"shape {tuple(rebuilt.shape)} for {tuple(target.shape)}"
            raise fail("processor", f"{name}, whose pixel_values the torch rebuild misses by {shown} on this image",
                       "a processor whose resize, rescale, normalisation and padding are rebuilt here (Pillow "
                       "resize, OWLv2)", "turn off the step it adds (e.g. do_center_crop=False), or explain the "
                       "model's own pixel_values with glas_adapters.torch")
        return pixels

    @classmethod
    def _pil(cls, image_processor: Any, image_hwc: np.ndarray, padded: tuple[int, int], factor: float | None,
             mean: Any, std: Any, with_mask: bool, name: str) -> ProcessorPixels:
        flags = _accepted(image_processor, do_rescale=False, do_normalize=False, do_pad=False, do_center_crop=False)
        resized_values = _pixel_values(image_processor(images=image_hwc, return_tensors="pt", **flags))
        resized_values = resized_values.to(torch.float64)
        resized = (int(resized_values.shape[-2]), int(resized_values.shape[-1]))
        resample = getattr(image_processor, "resample", None)
        resample = 2 if resample is None else int(resample)  # Pillow's BILINEAR when the processor leaves it unset
        clean = torch.from_numpy(image_hwc).permute(2, 0, 1)[None].to(torch.float64)
        order = "hv"
        if bool(getattr(image_processor, "do_resize", True)) and resized != tuple(image_hwc.shape[:2]):
            order, miss = pil_matching_order(clean, resized_values[None], resample)
            if miss > 0:
                raise fail("processor", f"{name}, whose resized pixels the Pillow rebuild misses by "
                           f"{miss:.3g} grey levels", "an image processor resizing with Pillow",
                           "use the processor's Pillow backend, or explain the model's own pixel_values with "
                           "glas_adapters.torch")
        return cls("pil", resized, padded, resample, order, factor, mean, std, with_mask, name=name)

    @classmethod
    def _owlv2(cls, image_processor: Any, image_hwc: np.ndarray, padded: tuple[int, int], factor: float | None,
               mean: Any, std: Any, name: str) -> ProcessorPixels:
        from scipy import ndimage

        side = max(image_hwc.shape[:2]) if getattr(image_processor, "do_pad", True) else None
        if side is None or not getattr(image_processor, "do_resize", True):
            raise fail("processor", f"{name} with do_pad={image_processor.do_pad}, "
                       f"do_resize={image_processor.do_resize}", "OWLv2's padding to a square and resize",
                       "keep the processor's defaults")

        def axis(out_size: int) -> np.ndarray:
            sigma = max(0.0, (side / out_size - 1) / 2)

            def resize_1d(eye: np.ndarray) -> np.ndarray:
                filtered = ndimage.gaussian_filter1d(eye, sigma, axis=0, mode="mirror") if sigma > 1e-15 else eye
                return ndimage.zoom(filtered, (out_size / side, 1.0), order=1, mode="mirror", grid_mode=True)

            return scipy_axis_operator(resize_1d, side)

        ops = (axis(padded[0]), axis(padded[1]))
        return cls("owlv2", padded, padded, rescale_factor=factor, mean=mean, std=std, operators=ops, name=name)

    def __call__(self, pixels: torch.Tensor) -> dict[str, torch.Tensor]:
        """``pixel_values`` (and ``pixel_mask``) of ``(B, 3, H, W)`` pixels in [0, 1], on their device."""
        values = torch.round(pixels.to(torch.float64).clamp(0.0, 1.0) * 255.0)  # the uint8 image the processor reads
        if self.kind == "owlv2":
            out = self._owlv2_values(values)
        else:
            out = pil_resize(values, self.resized, self.resample, self.order)
            if self.rescale_factor is not None:
                out = out * self.rescale_factor
        out = out.to(torch.float32)
        if self.mean is not None and self.std is not None:
            shape = (1, -1, 1, 1)
            out = (out - torch.tensor(self.mean, dtype=torch.float32, device=out.device).reshape(shape)) \
                / torch.tensor(self.std, dtype=torch.float32, device=out.device).reshape(shape)
        h, w = self.resized
        result: dict[str, torch.Tensor] = {}
        if (h, w) != self.padded:
            out = torch.nn.functional.pad(out, (0, self.padded[1] - w, 0, self.padded[0] - h))
        result["pixel_values"] = out
        if self.with_mask:
            mask = torch.zeros((out.shape[0],) + self.padded, dtype=torch.int64, device=out.device)
            mask[:, :h, :w] = 1
            result["pixel_mask"] = mask
        return result

    def _owlv2_values(self, values: torch.Tensor) -> torch.Tensor:
        assert self.operators is not None
        x = values * self.rescale_factor if self.rescale_factor is not None else values
        x = x.to(torch.float32).to(torch.float64)  # the processor's rescaled float32 image
        side = self.operators[0].shape[1]
        x = torch.nn.functional.pad(x, (0, side - int(x.shape[-1]), 0, side - int(x.shape[-2])))
        rows = torch.as_tensor(self.operators[0], device=x.device)
        cols = torch.as_tensor(self.operators[1], device=x.device)
        out = rows @ x @ cols.T
        low = x.amin(dim=(1, 2, 3), keepdim=True)
        high = x.amax(dim=(1, 2, 3), keepdim=True)
        return torch.minimum(torch.maximum(out, low), high)  # the processor clips to the input's range
