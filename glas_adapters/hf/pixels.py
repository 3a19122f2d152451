"""Pixels for HuggingFace models: processor output in [0, 1], normalisation applied after masking.

GLAS perturbs ``I * G`` (paper Eq. 1-2) where a shadow means darkness. A HuggingFace processor
normalises with the dataset mean and std, so a masked normalised image would shade towards the
mean colour instead. We therefore ask the processor for the resized pixels without
normalisation (``do_normalize=False``), perturb those in [0, 1], and normalise each perturbed
batch just before the model (:meth:`PixelSpace.normalize`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from glas_core.errors import fail


def split_processor(processor: Any, tokenizer: Any = None) -> tuple[Any, Any]:
    """Return ``(image_processor, tokenizer)`` from a processor, or an image processor plus a tokenizer."""
    image_processor = getattr(processor, "image_processor", None) or processor
    tokenizer = tokenizer if tokenizer is not None else getattr(processor, "tokenizer", None)
    if not callable(image_processor) or not hasattr(image_processor, "do_normalize"):
        raise fail("processor", type(processor).__name__,
                    "a HuggingFace processor or image processor (with image_mean, image_std, do_normalize)",
                    "pass AutoProcessor.from_pretrained(...) or the model's image processor")
    return image_processor, tokenizer


@dataclass(frozen=True)
class PixelSpace:
    """How a model sees pixels: channel axis, and the processor's mean and std (or none).

    Attributes
    ----------
    mean, std : tuple of float or None
        Per-channel normalisation applied after masking; ``None`` when the processor does not
        normalise (``do_normalize=False``).
    """

    mean: tuple[float, ...] | None
    std: tuple[float, ...] | None

    @classmethod
    def from_image_processor(cls, image_processor: Any) -> PixelSpace:
        """Read mean and std from ``image_processor``; a normalising processor without them is an error."""
        if not getattr(image_processor, "do_normalize", False):
            return cls(None, None)
        mean = getattr(image_processor, "image_mean", None)
        std = getattr(image_processor, "image_std", None)
        if mean is None or std is None:
            raise fail("processor", f"{type(image_processor).__name__} with image_mean={mean!r}, image_std={std!r}",
                        "an image processor with image_mean and image_std (it normalises: do_normalize=True)",
                        "set processor.image_processor.image_mean / image_std, or do_normalize=False "
                        "if the model takes raw [0, 1] pixels")
        mean_t = tuple(float(m) for m in np.atleast_1d(mean))
        std_t = tuple(float(s) for s in np.atleast_1d(std))
        if any(s <= 0 for s in std_t):
            raise fail("processor.image_std", std_t, "positive numbers", "fix the processor's image_std")
        return cls(mean_t, std_t)

    def normalize(self, pixels: torch.Tensor, dtype: torch.dtype | None = None) -> torch.Tensor:
        """``(pixels - mean) / std`` on a ``(B, C, H, W)`` batch in [0, 1]; a new tensor, cast to ``dtype``."""
        out = pixels
        if self.mean is not None and self.std is not None:
            shape = (1, -1, 1, 1)
            mean = torch.tensor(self.mean, dtype=pixels.dtype, device=pixels.device).reshape(shape)
            std = torch.tensor(self.std, dtype=pixels.dtype, device=pixels.device).reshape(shape)
            out = (pixels - mean) / std
        return out if dtype is None else out.to(dtype)


_ALPHA_MODES = ("RGBA", "LA", "PA", "RGBa", "La")


def _refuse_alpha(received: str) -> None:
    raise fail("image", received, "an RGB (or grey) image without an alpha channel",
               "flatten the transparency first, e.g. image.convert('RGB') for a PIL image or image[..., :3] "
               "for an (H, W, 4) array (GLAS masks what the model sees; it cannot tell what alpha should mean)")


def checked_image(image: Any) -> Any:
    """One image as a processor takes it: a PIL image, or a checked ``numpy`` array.

    PIL images of other modes than RGB are converted to RGB (grey repeats in every channel).
    Refused, each with a :class:`GLASError`: alpha channels (PIL or array), other types,
    arrays not of rank 3, channel counts other than 3, NaN/inf, floats outside [0, 1].
    """
    if hasattr(image, "convert") and hasattr(image, "mode") and not hasattr(image, "shape"):
        if image.mode in _ALPHA_MODES or (image.mode == "P" and "transparency" in getattr(image, "info", {})):
            _refuse_alpha(f"a PIL image of mode {image.mode!r}")
        return image if image.mode == "RGB" else image.convert("RGB")  # grey, palette, CMYK: lossless to RGB
    if isinstance(image, torch.Tensor):
        image = image.detach().cpu().numpy()
    if not isinstance(image, np.ndarray):
        raise fail("image", type(image).__name__, "a PIL image, a numpy array or a torch tensor",
                    "load the image with PIL.Image.open(...) or pass an (H, W, C) array")
    if image.ndim != 3:
        fix = ("explain one image at a time: pass image[0]" if image.ndim == 4 else
               "add a channel axis, e.g. np.stack([img] * 3, axis=-1) for a grey image")
        raise fail("image", f"an array of rank {image.ndim} with shape {image.shape}",
                    "one image of rank 3, (H, W, C) or (C, H, W)", fix)
    channels = image.shape[-1] if image.shape[-1] <= 4 else image.shape[0]
    if channels == 4:
        _refuse_alpha(f"an array of shape {image.shape} (4 channels: RGBA)")
    if channels != 3:
        raise fail("image", f"an array of shape {image.shape} ({channels} channel(s))",
                    "3 colour channels, (H, W, 3) or (3, H, W)",
                    "repeat a grey channel, e.g. np.repeat(img, 3, axis=-1)")
    if not np.all(np.isfinite(image)):
        raise fail("image", "an array with NaN or inf", "finite pixel values", "clean the image first")
    if np.issubdtype(image.dtype, np.floating) and (image.min() < 0.0 or image.max() > 1.0):
        raise fail("image", f"a float array with values in [{image.min():.4g}, {image.max():.4g}]",
                    "floats in [0, 1] (or uint8 in [0, 255])",
                    "divide by 255, or pass the uint8 image")
    return image


def is_float_image(image: Any) -> bool:
    """Whether a checked image holds floats in [0, 1] (not uint8 or PIL)."""
    return isinstance(image, np.ndarray) and np.issubdtype(image.dtype, np.floating)


def pixels_01(image_processor: Any, image: Any) -> torch.Tensor:
    """The processor's resized pixels in [0, 1], ``(C, H, W)`` float32, before normalisation.

    For processors that resize to one image (``pixel_values`` of shape ``(1, C, H, W)``).

    Parameters
    ----------
    image_processor : transformers image processor
        Resizes (and crops) as the model expects; called with ``do_normalize=False``.
    image : PIL.Image, numpy array or torch tensor
        One image; uint8 in [0, 255] or float in [0, 1], channels first or last.
    """
    image = checked_image(image)
    kwargs: dict[str, Any] = {"do_normalize": False, "return_tensors": "pt"}
    if is_float_image(image):
        kwargs["do_rescale"] = False  # already in [0, 1]
    elif getattr(image_processor, "do_rescale", True) is False:
        raise fail("processor", "an image processor with do_rescale=False given a uint8/PIL image",
                    "an image in the model's [0, 1] pixel range",
                    "pass a float image in [0, 1] (e.g. np.asarray(img) / 255)")
    pixel_values = torch.as_tensor(image_processor(images=image, **kwargs)["pixel_values"])
    if pixel_values.ndim != 4 or pixel_values.shape[0] != 1:
        raise fail("processor output", f"pixel_values of shape {tuple(pixel_values.shape)}",
                    "one image of shape (1, C, H, W)",
                    "use an image processor that resizes to one image; patchifying and cropping processors "
                    "are supported for Qwen2-VL, Idefics3/SmolVLM and Pix2Struct layouts")
    pixels = pixel_values[0].to(torch.float32)
    if pixels.shape[0] not in (1, 3, 4) and pixels.shape[-1] in (1, 3, 4):
        pixels = pixels.permute(2, 0, 1)  # processor returned channels last
    lo, hi = float(pixels.min()), float(pixels.max())
    if lo < -1e-3 or hi > 1.0 + 1e-3:
        raise fail("processor output", f"pixels in [{lo:.4g}, {hi:.4g}] before normalisation",
                    "pixels in [0, 1]", "use an image processor with do_rescale=True for uint8 images")
    return pixels.clamp(0.0, 1.0).contiguous()


def model_device_dtype(model: Any) -> tuple[torch.device, torch.dtype]:
    """Device and floating dtype of a model's parameters (CPU float32 for a parameterless callable)."""
    for p in getattr(model, "parameters", lambda: iter(()))():
        if p.is_floating_point():
            return p.device, p.dtype
    return torch.device("cpu"), torch.float32
