"""HuggingFace video classifiers (VideoMAE, TimeSformer, ViViT) explained over space and time.

A clip ``(T, H, W, C)`` goes through the model's video processor ONCE, with its rescaling and
normalisation switched off (``do_rescale=False``, ``do_normalize=False``, ViViT's
``offset=False``): that gives the frames the model sees, resized and cropped, as pixels in
[0, 1]. GLAS masks those pixels over time and space (paper Eq. 1-2 with a 3-D Gaussian, one
axis per frame, row and column), and the processor's remaining steps, the rescaling (ViViT's
offset to [-1, 1] included) and the mean/std normalisation, are rerun on every masked clip
inside :meth:`HFVideoClassifier.forward` (:class:`VideoPixelSpace`), so a shadow is black, not
the dataset's mean colour. Resizing and cropping are not rerun: the masks fall on the resized
frames, so the maps are ``(T, h, w)`` at the resolution the processor resizes and crops to
(the clip's own shape when its frames already have the model's size), as for image captions.

:meth:`HFVideoClassifier.prepare` checks the pixel path against the processor: the clean
clip through :meth:`~HFVideoClassifier.forward`'s normalisation must reproduce the
processor's own ``pixel_values`` (to 1e-4); a processor with a step this module does not
rerun is refused, never explained silently wrong.

>>> clf = HFVideoClassifier(model, processor)                              # doctest: +SKIP
>>> exp = clf.explain(clip, targets=[3, 7], grid=(8, 7, 7))                # doctest: +SKIP
>>> exp.maps.shape                                                         # (2, T, h, w)  # doctest: +SKIP
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

#: How far the adapter's pixel path may stray from the processor's ``pixel_values`` on the clean clip.
REPRODUCTION_TOLERANCE = 1e-4


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


@dataclass(frozen=True)
class VideoPixelSpace:
    """The processor's steps after resizing, as one affine map per channel: rerun on every masked clip.

    A uint8 value ``u`` becomes ``u * rescale_factor - offset`` (``do_rescale``; ViViT's offset is
    1), then ``(v - mean) / std`` (``do_normalize``). On pixels ``x = u / 255`` in [0, 1] that is
    ``(x * scale + shift - mean) / std`` with ``scale = 255 * rescale_factor``.

    Attributes
    ----------
    scale, shift : float
        ``x -> x * scale + shift`` (the rescaling).
    mean, std : tuple of float or None
        Per-channel normalisation; None when the processor does not normalise.
    """

    scale: float
    shift: float
    mean: tuple[float, ...] | None
    std: tuple[float, ...] | None

    @classmethod
    def of(cls, processor: Any) -> VideoPixelSpace:
        """Read the rescaling, offset and normalisation of a video processor (uint8 input)."""
        scale, shift = 255.0, 0.0
        if getattr(processor, "do_rescale", False):
            scale = 255.0 * float(getattr(processor, "rescale_factor", 1 / 255))
            shift = -1.0 if getattr(processor, "offset", False) else 0.0
        mean = std = None
        if getattr(processor, "do_normalize", False):
            mean_v, std_v = getattr(processor, "image_mean", None), getattr(processor, "image_std", None)
            if mean_v is None or std_v is None:
                raise fail("processor", f"{type(processor).__name__} with image_mean={mean_v!r}, image_std={std_v!r}",
                           "a processor with image_mean and image_std (it normalises: do_normalize=True)",
                           "set the processor's image_mean and image_std, or do_normalize=False")
            mean = tuple(float(m) for m in np.atleast_1d(mean_v))
            std = tuple(float(s) for s in np.atleast_1d(std_v))
            if any(s <= 0 for s in std):
                raise fail("processor.image_std", std, "positive numbers", "fix the processor's image_std")
        return cls(scale, shift, mean, std)

    def apply(self, pixels: torch.Tensor, channel_axis: int = 2) -> torch.Tensor:
        """The model's ``pixel_values`` of pixels in [0, 1] (a new tensor); channels on ``channel_axis``."""
        out = pixels * self.scale + self.shift
        if self.mean is not None and self.std is not None:
            shape = [1] * pixels.ndim
            shape[channel_axis] = -1
            mean = torch.tensor(self.mean, dtype=pixels.dtype, device=pixels.device).reshape(shape)
            std = torch.tensor(self.std, dtype=pixels.dtype, device=pixels.device).reshape(shape)
            out = (out - mean) / std
        return out


def model_num_frames(model: Any) -> int | None:
    """Frames per clip the model is built for (``config.num_frames``), when its config says."""
    value = getattr(getattr(model, "config", None), "num_frames", None)
    return int(value) if isinstance(value, int) and not isinstance(value, bool) else None


def checked_clip(clip: Any, num_frames: int | None) -> np.ndarray:
    """One clip as a ``(T, H, W, 3)`` NumPy array (uint8, or float in [0, 1]), refused with the fix otherwise."""
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
        if not np.all(np.isfinite(clip)):
            raise fail("clip", "an array with NaN or inf", "finite pixel values", "clean the clip first")
        if clip.min() < 0.0 or clip.max() > 1.0:
            raise fail("clip", f"a float array with values in [{clip.min():.4g}, {clip.max():.4g}]",
                       "floats in [0, 1] (or uint8 in [0, 255])", "divide by 255, or pass the uint8 clip")
        clip = clip.astype(np.float32)
    if num_frames is not None and clip.shape[0] != num_frames:
        raise fail("clip", f"{clip.shape[0]} frames", f"the {num_frames} frames the model is built for "
                   "(config.num_frames)", f"sample {num_frames} frames, e.g. "
                   f"clip[np.linspace(0, len(clip) - 1, {num_frames}).round().astype(int)]")
    return clip


def _pixel_values(processor: Any, clip: np.ndarray, **kwargs: Any) -> torch.Tensor:
    """The processor's ``(T, C, h, w)`` pixel values of one clip (given as a list of frames)."""
    out = torch.as_tensor(np.asarray(processor(list(clip), return_tensors="np", **kwargs)["pixel_values"]))
    if out.ndim != 5 or out.shape[0] != 1 or out.shape[2] != clip.shape[-1]:
        raise fail("processor output", f"pixel_values of shape {tuple(out.shape)}",
                   "one clip of shape (1, T, C, h, w)", "use the model's video processor (e.g. "
                   "VideoMAEImageProcessor, VivitImageProcessor)")
    return out[0].to(torch.float32)


class HFVideoClassifier(torch.nn.Module):
    """An ``AutoModelForVideoClassification`` that takes ``(B, C, T, h, w)`` pixels in [0, 1].

    The processor's rescaling and normalisation run inside :meth:`forward`, after GLAS masks the
    pixels (see the module docstring); the channel axis comes first so the torch adapter's
    ``spatial_dims=3`` finds time, rows and columns after it.

    Parameters
    ----------
    model : transformers video classification model
        VideoMAE, TimeSformer, ViViT (``pixel_values`` of shape ``(B, T, C, h, w)``; returns
        ``.logits``).
    processor : transformers processor, image or video processor
        The model's own (``AutoImageProcessor.from_pretrained`` of the same name).

    Examples
    --------
    >>> clf = HFVideoClassifier(model, processor)                        # doctest: +SKIP
    >>> exp = clf.explain(clip, targets=[3, 7])                          # one sweep, (2, T, h, w) maps
    >>> x = clf.prepare(clip)                                            # (3, T, h, w) in [0, 1]
    >>> maps = glas_adapters.torch.explain(clf, x, 3, spatial_dims=3)    # the adapters' contract
    """

    def __init__(self, model: Any, processor: Any) -> None:
        super().__init__()
        self.model = model
        self.processor = video_processor_of(processor)
        self.space = VideoPixelSpace.of(self.processor)
        self.num_frames = model_num_frames(model)

    def prepare(self, clip: Any) -> torch.Tensor:
        """``(C, T, h, w)`` pixels in [0, 1] of one ``(T, H, W, C)`` clip, as the model sees them.

        A uint8 clip is processed as it is; a float clip in [0, 1] is the uint8 clip divided by
        255 and must be processed alike by ``processor(clip, do_rescale=False)`` (ViViT's
        processor, which offsets rescaled pixels, takes no [0, 1] clips: pass uint8). Refused:
        clips that are not ``(T, H, W, 3)``, frame counts other than ``config.num_frames``,
        a processor resizing to another size than the model's, and a processor whose
        ``pixel_values`` this module's pixel path does not reproduce.
        """
        frames = checked_clip(clip, self.num_frames)
        is_uint8 = frames.dtype == np.uint8
        plain: dict[str, Any] = {"do_rescale": False, "do_normalize": False}
        if getattr(self.processor, "offset", False):
            plain["offset"] = False
        pixels = _pixel_values(self.processor, frames, **plain)
        if is_uint8:
            pixels = pixels / 255.0
        expected, got = model_image_size(self.model), tuple(int(s) for s in pixels.shape[-2:])
        if expected is not None and got != expected:
            raise fail("processor", f"{type(self.processor).__name__} resizing frames to {got[0]} x {got[1]} pixels",
                       f"the {expected[0]} x {expected[1]} pixels the model is built for",
                       "use the processor saved with the model (AutoImageProcessor.from_pretrained of the same name)")
        self._check_reproduced(frames, pixels, is_uint8)
        device, _ = model_device_dtype(self.model)
        return pixels.permute(1, 0, 2, 3).contiguous().to(device)  # (C, T, h, w)

    def _check_reproduced(self, frames: np.ndarray, pixels: torch.Tensor, is_uint8: bool) -> None:
        """Refuse a processor whose ``pixel_values`` :meth:`forward`'s pixel path does not reproduce."""
        try:
            reference = _pixel_values(self.processor, frames, **({} if is_uint8 else {"do_rescale": False}))
        except ValueError as error:  # ViViT: "For offset, do_rescale must also be set to True."
            if is_uint8:
                raise
            raise fail("clip", f"a float clip, which {type(self.processor).__name__} does not take "
                       f"({str(error).strip()})", "a uint8 clip for this processor",
                       "pass the uint8 frames, e.g. np.round(clip * 255).astype(np.uint8)") from None
        ours = self.space.apply(pixels[None], channel_axis=2)[0]
        gap = float((ours - reference).abs().max())
        if gap > REPRODUCTION_TOLERANCE * max(1.0, float(reference.abs().max())):
            received = (f"{type(self.processor).__name__}, whose pixel_values differ by {gap:.3g} from its "
                        "rescaling and normalisation rerun after masking")
            fix = ("pass the uint8 clip" if not is_uint8 else
                   "use a processor whose steps after resizing are rescale (with offset) and mean/std normalisation")
            raise fail("processor", received, "a processor this adapter reproduces", fix)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        """Logits of a ``(B, C, T, h, w)`` batch of pixels in [0, 1]."""
        if pixels.ndim != 5:
            raise fail("pixels", f"a tensor of shape {tuple(pixels.shape)}", "a (B, C, T, h, w) batch in [0, 1]",
                       "add a batch axis: pixels[None]")
        _, dtype = model_device_dtype(self.model)
        values = self.space.apply(pixels.permute(0, 2, 1, 3, 4), channel_axis=2).to(dtype)
        out = self.model(pixel_values=values)
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
        """One map per target over time and space, every target from one GLAS sweep.

        Parameters
        ----------
        clip : array
            ``(T, H, W, 3)`` frames, uint8 or float in [0, 1], ``T = config.num_frames``.
        targets : int, list of int or None
            Classes to explain (one map each); None explains the predicted class.
        grid, sigma, sigma_px, mode, lam, baseline, probabilities, batch_size, progress, config
            As in :func:`glas_adapters.torch.explain`. ``grid=None`` (without ``config``) is
            ``min(15, n)`` points along each of time, rows and columns: ``2 k_t k_h k_w + 1``
            forward passes of whole clips.

        Returns
        -------
        VideoExplanation
            ``maps`` of shape ``(n_targets, T, h, w)``.
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
    """One GLAS map per target over the frames the model sees.

    Attributes
    ----------
    maps : numpy.ndarray
        ``(n_targets, T, h, w)`` saliency (each target's map up to one positive factor, see
        ``result.log_scale``).
    targets : list of int
        The explained classes.
    labels : list of str
        Their names (``config.id2label``).
    probs : numpy.ndarray
        ``(n_targets,)`` softmax probabilities of the targets on the clean clip.
    frames : numpy.ndarray
        ``(T, h, w, 3)`` the clip in [0, 1] as the model sees it (resized, cropped), which the maps align with.
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
