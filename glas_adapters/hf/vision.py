"""What a vision encoder is fed: GLAS masks pixels in [0, 1], a layout turns each masked batch into model inputs.

- :class:`NormalizedPixels`: processors that resize to one fixed-size image and normalise it
  with a mean and std (ViT, CLIP, SigLIP, BLIP, ...). Masks act on the resized pixels and the
  normalisation follows, in torch (a shadow is black, not the dataset's mean colour).
- Patchifying and cropping processors: masks act on the image at the resolution the processor
  resizes it to, then the processor's own patch / crop step runs again on the masked images of
  each batch. :class:`QwenPatches` (``pixel_values`` of flat patches plus ``image_grid_thw``,
  Qwen2-VL / Qwen2.5-VL), :class:`IdeficsCrops` (crops plus a global image, Idefics3 /
  SmolVLM, with or without image splitting) and :class:`FlattenedPatches` (Pix2Struct).

Every layout recovers the resized image from the processor's own output for the clean image
and checks that rerunning the processor on it reproduces that output, so a processor whose
layout differs is refused instead of explained wrongly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from glas_core.errors import fail

from .pixels import PixelSpace, checked_image, is_float_image, pixels_01

SUPPORTED = ("fixed-size processors with a mean and std (ViT, CLIP, SigLIP, BLIP, ...), Qwen2-VL patches, "
             "Idefics3/SmolVLM crops and Pix2Struct flattened patches")


class Layout:
    """How one image processor's input is rebuilt from masked ``(B, C, H, W)`` pixels in [0, 1]."""

    name = "layout"

    def __init__(self, image_processor: Any) -> None:
        self.image_processor = image_processor

    def clean(self, image: Any) -> tuple[torch.Tensor, dict[str, Any]]:
        """``(C, H, W)`` float32 pixels in [0, 1] GLAS masks, and the processor's clean output."""
        raise NotImplementedError

    def inputs(self, batch: torch.Tensor, dtype: torch.dtype) -> dict[str, torch.Tensor]:
        """The model's image inputs for a ``(B, C, H, W)`` batch, on the batch's device."""
        raise NotImplementedError

    # -- shared by the patch and crop layouts ----------------------------------------------------
    def _first_pass(self, image: Any, **kwargs: Any) -> dict[str, Any]:
        image = checked_image(image)
        if is_float_image(image):
            if self._rescales():
                kwargs["do_rescale"] = False
            else:
                image = image * 255.0  # a processor without a rescale step takes 0..255 values
        return dict(self.image_processor(images=image, do_normalize=False, return_tensors="pt", **kwargs))

    def _rescales(self) -> bool:
        return bool(getattr(self.image_processor, "do_rescale", False))

    def _verify(self, first: dict[str, Any], again: dict[str, Any], atol: float) -> None:
        """Refuse a processor whose output the rebuilt image does not reproduce."""
        for key, value in first.items():
            if not isinstance(value, torch.Tensor) or key not in again:
                continue
            other = torch.as_tensor(again[key])
            if other.shape != value.shape or not torch.allclose(other.double(), value.double(), atol=atol, rtol=0):
                raise fail("processor", f"{type(self.image_processor).__name__} (its {key!r} is not rebuilt "
                           f"from the resized image)", f"one of: {SUPPORTED}",
                           "pass token_logprobs= to CaptionExplainer with your own scoring")


def _device_inputs(values: dict[str, Any], device: torch.device, dtype: torch.dtype) -> dict[str, torch.Tensor]:
    out = {}
    for key, value in values.items():
        tensor = torch.as_tensor(value).to(device)
        out[key] = tensor.to(dtype) if tensor.is_floating_point() else tensor
    return out


def _arrays(batch: torch.Tensor, scale: float = 1.0, to_uint8: bool = False) -> list[np.ndarray]:
    """A batch as ``(C, H, W)`` numpy images for a processor call."""
    values = batch.detach().to("cpu", torch.float32) * scale
    if to_uint8:
        return [a for a in values.mul(255.0).round().clamp(0, 255).to(torch.uint8).numpy()]
    return [a for a in values.numpy()]


class NormalizedPixels(Layout):
    """One fixed-size image per input, normalised with the processor's mean and std after masking."""

    name = "normalised pixels"

    def __init__(self, image_processor: Any) -> None:
        super().__init__(image_processor)
        self.space = PixelSpace.from_image_processor(image_processor)

    def clean(self, image: Any) -> tuple[torch.Tensor, dict[str, Any]]:
        return pixels_01(self.image_processor, image), {}

    def inputs(self, batch: torch.Tensor, dtype: torch.dtype) -> dict[str, torch.Tensor]:
        return {"pixel_values": self.space.normalize(batch, dtype)}


class QwenPatches(Layout):
    """Qwen2-VL style: the resized image cut into ``temporal x patch x patch`` flat patches, merged in 2 x 2."""

    name = "Qwen2-VL patches"

    def _sizes(self) -> tuple[int, int, int]:
        ip = self.image_processor
        return int(ip.patch_size), int(ip.merge_size), int(ip.temporal_patch_size)

    def clean(self, image: Any) -> tuple[torch.Tensor, dict[str, Any]]:
        first = self._first_pass(image)
        patch, merge, temporal = self._sizes()
        _, grid_h, grid_w = (int(v) for v in first["image_grid_thw"][0])
        flat = torch.as_tensor(first["pixel_values"], dtype=torch.float32)
        channels = flat.shape[-1] // (temporal * patch * patch)
        # inverse of the processor's patchify: (gh/m, gw/m, m, m, C, T, p, p) -> (C, gh*p, gw*p)
        shape = (grid_h // merge, grid_w // merge, merge, merge, channels, temporal, patch, patch)
        grid = flat.reshape(shape)[..., 0, :, :]
        pixels = grid.permute(4, 0, 2, 5, 1, 3, 6).reshape(channels, grid_h * patch, grid_w * patch)
        self._verify(first, self._call(pixels[None], normalize=False), atol=1e-6)
        return pixels.clamp(0.0, 1.0).contiguous(), first

    def _call(self, batch: torch.Tensor, normalize: bool = True) -> dict[str, Any]:
        return dict(self.image_processor(images=_arrays(batch), do_resize=False, do_rescale=False,
                                         do_normalize=normalize and bool(getattr(self.image_processor,
                                                                                 "do_normalize", True)),
                                         input_data_format="channels_first", return_tensors="pt"))

    def inputs(self, batch: torch.Tensor, dtype: torch.dtype) -> dict[str, torch.Tensor]:
        return _device_inputs(self._call(batch), batch.device, dtype)


class IdeficsCrops(Layout):
    """Idefics3 / SmolVLM style: crops of the resized image (when splitting) plus one global image.

    Their PIL image processors resize through 8-bit PIL images, so the masked images go in as
    uint8, as a masked photo would.
    """

    name = "Idefics3/SmolVLM crops"

    def clean(self, image: Any) -> tuple[torch.Tensor, dict[str, Any]]:
        first = self._first_pass(image, return_row_col_info=True)
        crops = torch.as_tensor(first["pixel_values"], dtype=torch.float32)[0]  # (N, C, M, M)
        rows, cols = int(first["rows"][0][0]), int(first["cols"][0][0])
        if rows == 0 and cols == 0:
            pixels = crops[0]
        else:
            size = crops.shape[-1]
            tiles = crops[: rows * cols].reshape(rows, cols, crops.shape[1], size, size)
            pixels = tiles.permute(2, 0, 3, 1, 4).reshape(crops.shape[1], rows * size, cols * size)
        self._verify({k: v for k, v in first.items() if k != "rows" and k != "cols"},
                     self._call(pixels[None], normalize=False), atol=1e-6)
        return pixels.clamp(0.0, 1.0).contiguous(), first

    def _call(self, batch: torch.Tensor, normalize: bool = True) -> dict[str, Any]:
        images = [[a] for a in _arrays(batch, to_uint8=True)]
        out = self.image_processor(images=images, do_resize=False,
                                   do_normalize=normalize and bool(getattr(self.image_processor, "do_normalize", True)),
                                   input_data_format="channels_first", return_tensors="pt")
        return {k: v for k, v in dict(out).items() if k not in ("rows", "cols")}

    def inputs(self, batch: torch.Tensor, dtype: torch.dtype) -> dict[str, torch.Tensor]:
        return _device_inputs(self._call(batch), batch.device, dtype)


class FlattenedPatches(Layout):
    """Pix2Struct: the image resized to a grid of at most ``max_patches`` patches, each flattened.

    Pix2Struct standardises every image by its own mean and std; that runs again on each
    masked image, at the resolution GLAS masks (the clean image's statistics are those of the
    resized image, not of the original photo).
    """

    name = "Pix2Struct flattened patches"

    def clean(self, image: Any) -> tuple[torch.Tensor, dict[str, Any]]:
        first = self._first_pass(image)
        ip = self.image_processor
        patch = ip.patch_size
        ph, pw = (int(patch["height"]), int(patch["width"])) if isinstance(patch, dict) else (int(patch.height),
                                                                                                int(patch.width))
        flat = torch.as_tensor(first["flattened_patches"], dtype=torch.float32)[0]
        rows, cols = int(flat[:, 0].max()), int(flat[:, 1].max())
        channels = (flat.shape[-1] - 2) // (ph * pw)
        # inverse of the processor's patch extraction: (rows, cols, ph, pw, C) -> (C, rows*ph, cols*pw)
        tiles = flat[: rows * cols, 2:].reshape(rows, cols, ph, pw, channels)
        pixels = tiles.permute(4, 0, 2, 1, 3).reshape(channels, rows * ph, cols * pw) / 255.0
        self._verify(first, self._call(pixels[None], normalize=False), atol=1e-3)
        return pixels.clamp(0.0, 1.0).contiguous(), first

    def _call(self, batch: torch.Tensor, normalize: bool = True) -> dict[str, Any]:
        return dict(self.image_processor(images=_arrays(batch, scale=255.0),
                                         do_normalize=normalize and bool(getattr(self.image_processor,
                                                                                 "do_normalize", True)),
                                         input_data_format="channels_first", return_tensors="pt"))

    def inputs(self, batch: torch.Tensor, dtype: torch.dtype) -> dict[str, torch.Tensor]:
        return _device_inputs(self._call(batch), batch.device, dtype)


def layout_of(image_processor: Any) -> Layout:
    """The layout of ``image_processor``'s output (its ``model_input_names`` and patch settings)."""
    names = set(getattr(image_processor, "model_input_names", None) or ())
    if "flattened_patches" in names:
        if getattr(image_processor, "is_vqa", False):
            raise fail("processor", "a Pix2Struct VQA image processor (is_vqa=True)",
                       "a Pix2Struct captioning processor",
                       "Pix2Struct VQA checkpoints draw the question into the image, where GLAS's masks would "
                       "hide it too: explain a captioning checkpoint, or pass token_logprobs= with your own scoring")
        return FlattenedPatches(image_processor)
    if "image_grid_thw" in names and hasattr(image_processor, "merge_size"):
        return QwenPatches(image_processor)
    if "pixel_attention_mask" in names and hasattr(image_processor, "max_image_size"):
        return IdeficsCrops(image_processor)
    return NormalizedPixels(image_processor)


@dataclass
class VisionInputs:
    """One image's pixels as GLAS masks them, and the model inputs of any masked batch of them.

    Attributes
    ----------
    layout : Layout
        How the processor's input is rebuilt.
    pixels : torch.Tensor
        ``(C, H, W)`` clean pixels in [0, 1] on the model's device (what GLAS perturbs).
    clean_output : dict
        The processor's output for the clean image (grid sizes, crop rows and columns).
    dtype : torch.dtype
        The model's floating dtype.
    """

    layout: Layout
    pixels: torch.Tensor
    clean_output: dict[str, Any]
    dtype: torch.dtype

    @classmethod
    def of(cls, layout: Layout, image: Any, device: torch.device, dtype: torch.dtype) -> VisionInputs:
        pixels, output = layout.clean(image)
        return cls(layout, pixels.to(device), output, dtype)

    def __call__(self, batch: torch.Tensor) -> dict[str, torch.Tensor]:
        """Model inputs of a ``(B, C, H, W)`` batch of masked pixels in [0, 1]."""
        return self.layout.inputs(batch, self.dtype)
