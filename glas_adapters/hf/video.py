"""HuggingFace video classifiers (VideoMAE, TimeSformer, ViViT) explained over space and time.

GLAS perturbs the clip as the caller gives it: ``(T, H, W, 3)`` uint8 frames, as pixels in
[0, 1] (``uint8 / 255``), masked over time and space (paper Eq. 1-2 with a 3-D Gaussian, one
axis per frame, row and column). Each masked clip is rounded to uint8, the frames the
processor reads, and goes through the processor's steps in torch inside
:meth:`HFVideoClassifier.forward` (:class:`VideoProcessorPixels`): Pillow's 8-bit resize of
every frame (:func:`~glas_adapters.hf.resample.pil_resize`, bit for bit), the center crop,
the rescaling (ViViT's offset to [-1, 1] included) and the mean/std normalisation. A shadow
is therefore black, not the dataset's mean colour, and the maps have the clip's own shape
``(n_targets, T, H, W)``, whatever size the model takes.

:meth:`HFVideoClassifier.prepare` checks the rebuilt steps on the clean clip against the
processor itself: the resized frames must equal the processor's (Pillow's pass order is
taken from that comparison) and the final ``pixel_values`` must match to 1e-5, or the
processor is refused, named, with the fix; it is never explained silently wrong.

>>> clf = HFVideoClassifier(model, processor)                              # doctest: +SKIP
>>> exp = clf.explain(clip, targets=[3, 7], grid=(8, 7, 7))                # doctest: +SKIP
>>> exp.maps.shape                                                         # (2, T, H, W)  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

import glas_core
from glas_core.config import DEFAULT_GRID, config_from
from glas_core.errors import fail, quoted

from .._common import ProgressFn
from .._engine import read_targets
from .checks import model_image_size
from .pixels import model_device_dtype
from .resample import pil_matching_order, pil_resize

#: How far the rebuilt ``pixel_values`` of the clean clip may be from the processor's (float32 round-off).
REPRODUCTION_TOLERANCE = 1e-5

#: How far a float clip times 255 may be from whole numbers (it must be uint8 frames divided by 255).
UINT8_TOLERANCE = 1e-3


def video_processor_of(processor: Any) -> Any:
    """The video (or image) processor inside a processor, checked to have the steps this module reruns."""
    inner = (getattr(processor, "video_processor", None) or getattr(processor, "image_processor", None)
             or processor)
    if not callable(inner) or not hasattr(inner, "do_normalize") or not hasattr(inner, "do_rescale"):
        raise fail("processor", type(processor).__name__,
                   "a HuggingFace video or image processor (with do_rescale, do_normalize, image_mean, image_std)",
                   "pass AutoImageProcessor.from_pretrained(<the model's name>) (VideoMAEImageProcessor, "
                   "VivitImageProcessor)")
    return inner


def _plain_flags(processor: Any, *, crop: bool) -> dict[str, Any]:
    """The processor's flags that leave its frames resized (and cropped) uint8, not rescaled or normalised."""
    flags: dict[str, Any] = {"do_rescale": False, "do_normalize": False}
    if not crop:
        flags["do_center_crop"] = False
    if getattr(processor, "offset", False):
        flags["offset"] = False  # ViViT: an offset needs do_rescale
    return flags


def _pixel_values(processor: Any, clip: np.ndarray, **kwargs: Any) -> torch.Tensor:
    """The processor's ``(T, C, h, w)`` pixel values of one uint8 clip (given as a list of frames)."""
    out = torch.as_tensor(np.asarray(processor(list(clip), return_tensors="np", **kwargs)["pixel_values"]))
    if out.ndim != 5 or out.shape[0] != 1 or out.shape[2] != clip.shape[-1]:
        raise fail("processor output", f"pixel_values of shape {tuple(out.shape)}",
                   "one clip of shape (1, T, C, h, w)", "use the model's video processor (e.g. "
                   "VideoMAEImageProcessor, VivitImageProcessor)")
    return out[0]


@dataclass(frozen=True)
class VideoProcessorPixels:
    """A video processor's steps rebuilt in torch: clip pixels in [0, 1] in, the model's ``pixel_values`` out.

    Build it with :meth:`from_processor` on the clean clip; call it on ``(B, C, T, H, W)``
    pixels in [0, 1] of clips of that frame size. Each frame is rounded to uint8, resized by
    Pillow's 8-bit resize, center-cropped, then a uint8 value ``u`` becomes
    ``u * rescale_factor - offset`` (``do_rescale``; ViViT's offset is 1) and
    ``(v - mean) / std`` (``do_normalize``), in float32 as the processor computes them.

    Attributes
    ----------
    resized : (int, int)
        ``(height, width)`` of the frames after the resize (the clip's own when it does not resize).
    crop : (int, int, int, int)
        ``(top, left, height, width)`` of the center crop in the resized frames.
    resample : int
        The ``PIL.Image.Resampling`` filter.
    order : {"hv", "vh"}
        Pillow's pass order, taken from the clean clip.
    rescale_factor : float or None
        The rescaling, None when the processor does not rescale.
    offset : float
        Subtracted after rescaling (ViViT: 1).
    mean, std : tuple of float or None
        Per-channel normalisation; None when the processor does not normalise.
    name : str
        The processor's class name.
    """

    resized: tuple[int, int]
    crop: tuple[int, int, int, int]
    resample: int
    order: str
    rescale_factor: float | None
    offset: float
    mean: tuple[float, ...] | None
    std: tuple[float, ...] | None
    name: str

    @classmethod
    def from_processor(cls, processor: Any, clip: np.ndarray) -> VideoProcessorPixels:
        """Rebuild ``processor``'s steps and check them on the clean uint8 ``(T, H, W, 3)`` clip.

        Raises
        ------
        GLASError
            When the processor resizes with another backend than Pillow, pads in its crop, or
            when the rebuilt pixels differ from the processor's own on the clean clip.
        """
        name = type(processor).__name__
        if getattr(processor, "backend", "pil") != "pil":
            raise fail("processor", f"{name} (backend {processor.backend!r})",
                       "a video processor with the Pillow backend (the resize rebuilt here is Pillow's)",
                       f"load it with AutoImageProcessor.from_pretrained(name, backend='pil') or use {name}Pil")
        target = _pixel_values(processor, clip).to(torch.float32)
        resized_values = _pixel_values(processor, clip, **_plain_flags(processor, crop=False)).to(torch.float64)
        resized = (int(resized_values.shape[-2]), int(resized_values.shape[-1]))
        out_h, out_w = int(target.shape[-2]), int(target.shape[-1])
        top, left = (resized[0] - out_h) // 2, (resized[1] - out_w) // 2
        if top < 0 or left < 0:
            raise fail("processor", f"{name} cropping {out_h} x {out_w} pixels out of frames resized to "
                       f"{resized[0]} x {resized[1]} (it pads them)",
                       "a processor cropping inside its resized frames (crop_size no larger than them)",
                       "set the processor's size to at least its crop_size (e.g. size={'shortest_edge': "
                       f"{max(out_h, out_w)}}})")
        resample = getattr(processor, "resample", None)
        resample = 2 if resample is None else int(resample)  # Pillow's BILINEAR when the processor leaves it unset
        order = "hv"
        if resized != tuple(clip.shape[1:3]):
            frames = torch.from_numpy(clip).permute(0, 3, 1, 2).to(torch.float64)
            order, miss = pil_matching_order(frames, resized_values, resample)
            if miss > 0:
                raise fail("processor", f"{name}, whose resized frames the Pillow rebuild misses by {miss:.3g} "
                           "grey levels", "a video processor resizing with Pillow",
                           "use the processor's Pillow backend (e.g. VideoMAEImageProcessorPil), or explain the "
                           "model's own pixel_values with glas_adapters.torch")
        factor = float(processor.rescale_factor) if getattr(processor, "do_rescale", False) else None
        offset = 1.0 if factor is not None and getattr(processor, "offset", False) else 0.0
        mean, std = cls._normalisation(processor, name)
        pixels = cls(resized, (top, left, out_h, out_w), resample, order, factor, offset, mean, std, name)
        clean = torch.from_numpy(clip).permute(3, 0, 1, 2)[None].to(torch.float32) / 255.0
        rebuilt = pixels(clean)[0]
        gap = float((rebuilt - target).abs().max()) if rebuilt.shape == target.shape else float("inf")
        if not gap <= REPRODUCTION_TOLERANCE:
            shown = f"{gap:.3g}" if np.isfinite(gap) else f"shape {tuple(rebuilt.shape)} for {tuple(target.shape)}"
            raise fail("processor", f"{name}, whose pixel_values the torch rebuild misses by {shown} on this clip",
                       "a processor this adapter reproduces (Pillow resize, center crop, rescale with offset, "
                       "mean/std normalisation)", "turn off the step it adds, or explain the model's own "
                       "pixel_values with glas_adapters.torch")
        return pixels

    @staticmethod
    def _normalisation(processor: Any, name: str) -> tuple[tuple[float, ...] | None, tuple[float, ...] | None]:
        """The processor's ``image_mean`` and ``image_std`` (None, None when it does not normalise)."""
        if not getattr(processor, "do_normalize", False):
            return None, None
        mean_v, std_v = getattr(processor, "image_mean", None), getattr(processor, "image_std", None)
        if mean_v is None or std_v is None:
            raise fail("processor", f"{name} with image_mean={mean_v!r}, image_std={std_v!r}",
                       "a processor with image_mean and image_std (it normalises: do_normalize=True)",
                       "set the processor's image_mean and image_std, or do_normalize=False")
        mean = tuple(float(m) for m in np.atleast_1d(mean_v))
        std = tuple(float(s) for s in np.atleast_1d(std_v))
        if any(s <= 0 for s in std):
            raise fail("processor.image_std", std, "positive numbers", "fix the processor's image_std")
        return mean, std

    def __call__(self, pixels: torch.Tensor) -> torch.Tensor:
        """``(B, T, C, h, w)`` float32 ``pixel_values`` of ``(B, C, T, H, W)`` pixels in [0, 1], on their device."""
        b, c, t, h_in, w_in = (int(s) for s in pixels.shape)
        values = torch.round(pixels.to(torch.float64).clamp(0.0, 1.0) * 255.0)  # the uint8 frames the processor reads
        frames = values.permute(0, 2, 1, 3, 4).reshape(b * t, c, h_in, w_in)
        frames = pil_resize(frames, self.resized, self.resample, self.order)
        top, left, height, width = self.crop
        out = frames[..., top:top + height, left:left + width]
        if self.rescale_factor is not None:
            out = (out * self.rescale_factor).to(torch.float32) - self.offset  # float64 product, then float32
        out = out.to(torch.float32)
        if self.mean is not None and self.std is not None:
            shape = (1, -1, 1, 1)
            out = (out - torch.tensor(self.mean, dtype=torch.float32, device=out.device).reshape(shape)) \
                / torch.tensor(self.std, dtype=torch.float32, device=out.device).reshape(shape)
        return out.reshape(b, t, c, height, width)


def model_num_frames(model: Any) -> int | None:
    """Frames per clip the model is built for (``config.num_frames``), when its config says."""
    value = getattr(getattr(model, "config", None), "num_frames", None)
    return int(value) if isinstance(value, int) and not isinstance(value, bool) else None


def checked_clip(clip: Any, num_frames: int | None) -> np.ndarray:
    """One clip as ``(T, H, W, 3)`` uint8 frames, refused with the fix otherwise.

    A float clip in [0, 1] is read as uint8 frames divided by 255 (and refused when it is not).
    """
    if isinstance(clip, torch.Tensor):
        clip = clip.detach().cpu().numpy()
    if isinstance(clip, (list, tuple)):
        try:
            clip = np.stack([np.asarray(frame) for frame in clip])
        except ValueError:
            raise fail("clip", "a list of frames of different shapes", "frames of one shape",
                       "resize the frames to one size first") from None
    if not isinstance(clip, np.ndarray):
        raise fail("clip", type(clip).__name__, "a (T, H, W, C) numpy array, torch tensor or list of frames",
                   "pass the decoded frames, e.g. np.stack(frames)")
    if clip.ndim != 4:
        fix = "explain one clip at a time: pass clip[0]" if clip.ndim == 5 else "pass (T, H, W, 3) frames"
        raise fail("clip", f"an array of shape {clip.shape}", "one clip of shape (T, H, W, C)", fix)
    if clip.shape[-1] != 3:
        fix = ("move the channel axis last: np.moveaxis(clip, 1, -1)" if clip.shape[1] == 3
               else "repeat a grey channel: np.repeat(clip[..., None], 3, axis=-1)")
        raise fail("clip", f"an array of shape {clip.shape}", "(T, H, W, 3) frames, channels last", fix)
    if clip.dtype != np.uint8 and not np.issubdtype(clip.dtype, np.floating):
        raise fail("clip", f"an array of dtype {clip.dtype}", "uint8 in [0, 255] or floats in [0, 1]",
                   "convert it, e.g. clip.astype(np.uint8) or clip / 255.0")
    if np.issubdtype(clip.dtype, np.floating):
        clip = _uint8_of(clip)
    if num_frames is not None and clip.shape[0] != num_frames:
        raise fail("clip", f"{clip.shape[0]} frames", f"the {num_frames} frames the model is built for "
                   "(config.num_frames)", f"sample {num_frames} frames, e.g. "
                   f"clip[np.linspace(0, len(clip) - 1, {num_frames}).round().astype(int)]")
    return np.ascontiguousarray(clip)


def _uint8_of(clip: np.ndarray) -> np.ndarray:
    """The uint8 frames of a float clip in [0, 1] that holds uint8 frames divided by 255."""
    if not np.all(np.isfinite(clip)):
        raise fail("clip", "an array with NaN or inf", "finite pixel values", "clean the clip first")
    if clip.min() < 0.0 or clip.max() > 1.0:
        raise fail("clip", f"a float array with values in [{clip.min():.4g}, {clip.max():.4g}]",
                   "floats in [0, 1] (or uint8 in [0, 255])", "divide by 255, or pass the uint8 clip")
    scaled = clip.astype(np.float64) * 255.0
    rounded = np.round(scaled)
    off = float(np.abs(scaled - rounded).max())
    if off > UINT8_TOLERANCE:
        raise fail("clip", f"a float clip {off / 255:.3g} away from multiples of 1/255",
                   "uint8 frames, or uint8 frames divided by 255 (the processor reads 8-bit frames)",
                   "pass the uint8 frames as decoded, or np.round(clip * 255).astype(np.uint8)")
    return rounded.astype(np.uint8)


class HFVideoClassifier(torch.nn.Module):
    """An ``AutoModelForVideoClassification`` that takes ``(B, C, T, H, W)`` clip pixels in [0, 1].

    The processor's steps (resize, center crop, rescale, normalise) run inside :meth:`forward`,
    after GLAS masks the clip at its own size (see the module docstring); the channel axis
    comes first so the torch adapter's ``spatial_dims=3`` finds time, rows and columns after it.

    Parameters
    ----------
    model : transformers video classification model
        VideoMAE, TimeSformer, ViViT (``pixel_values`` of shape ``(B, T, C, h, w)``; returns
        ``.logits``).
    processor : transformers processor, image or video processor
        The model's own (``AutoImageProcessor.from_pretrained`` of the same name), Pillow backend.

    Examples
    --------
    >>> clf = HFVideoClassifier(model, processor)                        # doctest: +SKIP
    >>> exp = clf.explain(clip, targets=[3, 7])                          # one sweep, (2, T, H, W) maps
    >>> x = clf.prepare(clip)                                            # (3, T, H, W) in [0, 1]
    >>> maps = glas_adapters.torch.explain(clf, x, 3, spatial_dims=3)    # the adapters' contract
    """

    def __init__(self, model: Any, processor: Any) -> None:
        super().__init__()
        self.model = model
        self.processor = video_processor_of(processor)
        self.num_frames = model_num_frames(model)
        self.pipelines: dict[tuple[int, int], VideoProcessorPixels] = {}

    def prepare(self, clip: Any) -> torch.Tensor:
        """``(C, T, H, W)`` pixels in [0, 1] of one ``(T, H, W, C)`` clip: the clip GLAS perturbs, at its own size.

        The processor's steps are rebuilt for the clip's frame size and checked on it
        (:meth:`~glas_adapters.hf.video.VideoProcessorPixels.from_processor`); :meth:`forward` then takes batches of
        clips of that size. A float clip in [0, 1] must be the uint8 clip divided by 255.
        Refused: clips that are not ``(T, H, W, 3)``, frame counts other than
        ``config.num_frames``, a processor cropping to another size than the model's, and a
        processor whose ``pixel_values`` this module does not reproduce.
        """
        frames = checked_clip(clip, self.num_frames)
        pipeline = VideoProcessorPixels.from_processor(self.processor, frames)
        expected, got = model_image_size(self.model), pipeline.crop[2:]
        if expected is not None and got != expected:
            raise fail("processor", f"{pipeline.name} resizing frames to {got[0]} x {got[1]} pixels",
                       f"the {expected[0]} x {expected[1]} pixels the model is built for",
                       "use the processor saved with the model (AutoImageProcessor.from_pretrained of the same name)")
        self.pipelines[(int(frames.shape[1]), int(frames.shape[2]))] = pipeline
        device, _ = model_device_dtype(self.model)
        return torch.from_numpy(frames).permute(3, 0, 1, 2).to(device=device, dtype=torch.float32) / 255.0

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        """Logits of a ``(B, C, T, H, W)`` batch of clip pixels in [0, 1] (a clip of this size prepared first)."""
        if pixels.ndim != 5:
            raise fail("pixels", f"a tensor of shape {tuple(pixels.shape)}", "a (B, C, T, H, W) batch in [0, 1]",
                       "add a batch axis: pixels[None]")
        size = (int(pixels.shape[-2]), int(pixels.shape[-1]))
        pipeline = self.pipelines.get(size)
        if pipeline is None:
            raise fail("pixels", f"clips of {size[0]} x {size[1]} pixels",
                       "clips of a frame size prepare() has checked the processor on",
                       "build them with clf.prepare(clip)")
        _, dtype = model_device_dtype(self.model)
        out = self.model(pixel_values=pipeline(pixels).to(dtype))
        return out.logits if hasattr(out, "logits") else out

    def label(self, index: int) -> str:
        """The model's name of a class (``config.id2label``), or its index."""
        names = getattr(getattr(self.model, "config", None), "id2label", None) or {}
        return str(names.get(index, names.get(str(index), index)))

    def probabilities(self, clip: Any) -> np.ndarray:
        """``(K,)`` softmax probabilities of one clip (prepared as :meth:`explain` prepares it)."""
        with torch.no_grad():
            return torch.softmax(self(self.prepare(clip)[None]).float(), dim=-1)[0].cpu().numpy()

    def explain(self, clip: Any, targets: Any = None, *, grid: int | Sequence[int] | None = None,
                sigma: Any = None, sigma_px: Any = None, mode: str | None = None, lam: float | None = None,
                baseline: Any = None, probabilities: Any = "softmax", batch_size: int | None = None,
                progress: bool | ProgressFn | None = None,
                config: glas_core.GLASConfig | None = None) -> VideoExplanation:
        """One map per target over time and space, of the clip's shape, every target from one GLAS sweep.

        Parameters
        ----------
        clip : array
            ``(T, H, W, 3)`` frames, uint8 (or uint8 / 255 as floats), ``T = config.num_frames``,
            any frame size: the processor's resize and crop run on every masked clip.
        targets : int, list of int or None
            Classes to explain (one map each); None explains the predicted class.
        grid, sigma, sigma_px, mode, lam, baseline, probabilities, batch_size, progress, config
            As in :func:`glas_adapters.torch.explain`. ``grid=None`` (without ``config``) is
            ``min(15, n)`` points along each of time, rows and columns: ``2 k_t k_h k_w + 1``
            forward passes of whole clips.

        Returns
        -------
        VideoExplanation
            ``maps`` of shape ``(n_targets, T, H, W)``, the clip's.
        """
        from glas_adapters.torch import explain as torch_explain

        pixels = self.prepare(clip)
        if grid is None and config is None:
            grid = tuple(min(DEFAULT_GRID, int(n)) for n in pixels.shape[1:])
        settings = config_from(config, grid=grid, sigma=sigma, sigma_px=sigma_px, mode=mode, lam=lam,
                               batch_size=batch_size)
        with torch.no_grad():
            logits = self(pixels[None]).float()
        probs = torch.softmax(logits, dim=-1)[0].cpu().numpy()
        if targets is None:
            chosen = [int(np.argmax(probs))]
        else:
            table = read_targets(targets, 1, single=True).table
            assert table is not None  # None is read above
            chosen = [int(c) for c in table[0]]
        result = torch_explain(self, pixels, chosen, spatial_dims=3, config=settings, baseline=baseline,
                               probabilities=probabilities, progress=progress, return_result=True)
        maps = np.asarray(glas_core.to_numpy(result.saliency), dtype=np.float64)
        return VideoExplanation(maps=maps, targets=chosen, labels=[self.label(c) for c in chosen],
                                probs=probs[chosen], frames=pixels.permute(1, 2, 3, 0).cpu().numpy(),
                                result=result)


@dataclass
class VideoExplanation:
    """One GLAS map per target over the clip's frames.

    Attributes
    ----------
    maps : numpy.ndarray
        ``(n_targets, T, H, W)`` saliency (each target's map up to one positive factor, see
        ``result.log_scale``).
    targets : list of int
        The explained classes.
    labels : list of str
        Their names (``config.id2label``).
    probs : numpy.ndarray
        ``(n_targets,)`` softmax probabilities of the targets on the clean clip.
    frames : numpy.ndarray
        ``(T, H, W, 3)`` the clip in [0, 1], which the maps align with.
    result : glas_core.GLASResult
        The raw sweep.
    """

    maps: np.ndarray
    targets: list[int]
    labels: list[str]
    probs: np.ndarray
    frames: np.ndarray
    result: Any

    def plot(self, target: int = 0, *, frames: Sequence[int] | None = None, alpha: float | None = None,
             cmap: str | None = None) -> Any:
        """The frames with the ``target``-th explained class's map over them (:func:`glas_core.viz.video_frames`)."""
        from glas_core import viz

        if isinstance(target, bool) or not isinstance(target, (int, np.integer)) or not (
                0 <= target < len(self.targets)):
            raise fail("target", quoted(target), f"the position of an explained class in [0, {len(self.targets)})",
                       "pass e.g. target=0 for the first class in exp.targets")
        style: dict[str, Any] = {k: v for k, v in (("alpha", alpha), ("cmap", cmap)) if v is not None}
        title = f"{self.labels[target]}  {self.probs[target]:.1%}"
        return viz.video_frames(self.frames, self.maps[target], frames=frames, title=title, **style)
