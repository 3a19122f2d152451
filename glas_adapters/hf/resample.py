"""The resizes of HuggingFace image processors, rebuilt in torch for batches of perturbed images.

A processor resizes with Pillow on uint8 images (the ``pil`` backend) or, for OWLv2, with a
Gaussian anti-aliasing filter and a linear zoom of SciPy on floats. GLAS perturbs the image at
its own size, so every perturbed row must go through the same resize as the clean image:

- :func:`pil_resize` is Pillow's two-pass convolution resize of 8-bit images
  (``libImaging/Resample.c``): per-axis filter weights normalised to one, stored as 22-bit
  fixed-point integers, each pass rounded and clipped to uint8. Done here as banded weighted
  sums in float64 (sparse products), where those integer sums are exact, so a clean image comes out bit for bit as
  Pillow's. Pillow picks which axis goes first from the sizes; the caller chooses the order
  that reproduces the processor on the clean image (:func:`pil_pass_orders`).
- :func:`scipy_axis_operator` is any linear, separable float resize along one axis as a
  matrix, obtained by running the processor's own function on the identity.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import numpy as np
import torch

from glas_core.errors import fail

#: Pillow's fixed-point precision of 8-bit resampling weights (``32 - 8 - 2``)
PRECISION_BITS = 22


def _box(x: float) -> float:
    return 1.0 if -0.5 < x <= 0.5 else 0.0


def _bilinear(x: float) -> float:
    x = abs(x)
    return 1.0 - x if x < 1.0 else 0.0


_F054, _F046 = float(np.float32(0.54)), float(np.float32(0.46))  # Pillow's single-precision constants


def _hamming(x: float) -> float:
    x = abs(x)
    if x == 0.0:
        return 1.0
    if x >= 1.0:
        return 0.0
    x = x * math.pi
    return math.sin(x) / x * (_F054 + _F046 * math.cos(x))


def _bicubic(x: float) -> float:
    a = -0.5
    x = abs(x)
    if x < 1.0:
        return ((a + 2.0) * x - (a + 3.0)) * x * x + 1
    if x < 2.0:
        return (((x - 5) * x + 8) * x - 4) * a
    return 0.0


def _sinc(x: float) -> float:
    if x == 0.0:
        return 1.0
    x = x * math.pi
    return math.sin(x) / x


def _lanczos(x: float) -> float:
    return _sinc(x) * _sinc(x / 3) if -3.0 <= x < 3.0 else 0.0


#: Pillow's resampling filters by their ``PIL.Image.Resampling`` value: (filter, support)
PIL_FILTERS: dict[int, tuple[Callable[[float], float], float]] = {
    1: (_lanczos, 3.0), 2: (_bilinear, 1.0), 3: (_bicubic, 2.0), 4: (_box, 0.5), 5: (_hamming, 1.0)}
PIL_FILTER_NAMES = {0: "NEAREST", 1: "LANCZOS", 2: "BILINEAR", 3: "BICUBIC", 4: "BOX", 5: "HAMMING"}


@functools.lru_cache(maxsize=32)
def pil_weights(in_size: int, out_size: int, resample: int) -> np.ndarray:
    """Pillow's fixed-point weights of one axis, ``(out_size, in_size)`` integers in float64 (cached: read only).

    Pillow's ``precompute_coeffs`` and ``normalize_coeffs_8bpc``: the filter stretched by the
    downscale factor, each output pixel's weights divided by their sum, then rounded to
    ``PRECISION_BITS`` bits.
    """
    if resample not in PIL_FILTERS:
        name = PIL_FILTER_NAMES.get(int(resample), str(resample))
        raise fail("processor", f"an image processor resizing with resample={name}",
                   "a Pillow filter rebuilt here (BILINEAR, BICUBIC, LANCZOS, BOX, HAMMING)",
                   "set processor.resample to PIL.Image.Resampling.BILINEAR, or explain the resized pixels with "
                   "glas_adapters.torch")
    filt, filter_support = PIL_FILTERS[resample]
    scale = in_size / out_size
    filterscale = max(scale, 1.0)
    support = filter_support * filterscale
    inv = 1.0 / filterscale
    out = np.zeros((out_size, in_size), dtype=np.float64)
    for xx in range(out_size):
        center = (xx + 0.5) * scale
        xmin = max(int(center - support + 0.5), 0)
        xmax = min(int(center + support + 0.5), in_size) - xmin
        w = [filt((x + xmin - center + 0.5) * inv) for x in range(xmax)]
        total = 0.0
        for v in w:
            total += v
        for x in range(xmax):
            k = w[x] / total if total != 0.0 else w[x]
            out[xx, xmin + x] = int(k * (1 << PRECISION_BITS) + (0.5 if k >= 0 else -0.5))
    out.flags.writeable = False
    return out


def _clip8(sums: torch.Tensor) -> torch.Tensor:
    """Pillow's ``clip8`` of fixed-point sums: ``(s + 2^21) >> 22`` clipped to [0, 255]."""
    return torch.clamp(torch.floor((sums + (1 << (PRECISION_BITS - 1))) / (1 << PRECISION_BITS)), 0, 255)


def _sparse_pass(weights: np.ndarray, x: torch.Tensor) -> torch.Tensor:
    """``clip8(weights @ x)`` for ``(out, in)`` weights and ``(in, M)`` values, as a sparse product.

    The weights are a band (a few taps per output pixel); the sums are integers below 2**53,
    exact in float64 in any order.
    """
    kernel = torch.tensor(weights, device=x.device).to_sparse()
    return _clip8(torch.sparse.mm(kernel, x))


def pil_pass_orders() -> tuple[str, str]:
    """The two pass orders Pillow may use: horizontal then vertical, or the reverse."""
    return ("hv", "vh")


def pil_resize(values: torch.Tensor, size: tuple[int, int], resample: int, order: str = "hv") -> torch.Tensor:
    """Pillow's 8-bit resize of ``(B, C, H, W)`` integer values in [0, 255] (float64), to ``size``.

    Parameters
    ----------
    values : torch.Tensor
        Integer-valued float64 pixels, as Pillow's uint8 image holds them.
    size : (int, int)
        ``(height, width)`` out.
    resample : int
        The ``PIL.Image.Resampling`` filter.
    order : {"hv", "vh"}
        Which axis is resampled first (each pass rounds to uint8).

    Returns
    -------
    torch.Tensor
        ``(B, C, height, width)`` float64 integer values, as Pillow's resized uint8 image.
    """
    height, width = size
    x = values
    for axis in order:
        b, c, h_in, w_in = (int(s) for s in x.shape)
        if axis == "h" and w_in != width:
            out = _sparse_pass(pil_weights(w_in, width, resample), x.reshape(-1, w_in).T)
            x = out.T.reshape(b, c, h_in, width)
        elif axis == "v" and h_in != height:
            out = _sparse_pass(pil_weights(h_in, height, resample), x.permute(2, 0, 1, 3).reshape(h_in, -1))
            x = out.reshape(height, b, c, w_in).permute(1, 2, 0, 3)
    return x


def pil_matching_order(values: torch.Tensor, expected: torch.Tensor, resample: int) -> tuple[str, float]:
    """The pass order whose :func:`pil_resize` of ``values`` comes closest to ``expected``, and its miss.

    Parameters
    ----------
    values : torch.Tensor
        ``(B, C, H, W)`` integer-valued float64 pixels (the clean image or frames).
    expected : torch.Tensor
        ``(B, C, h, w)`` the same pixels resized by the processor (Pillow).
    resample : int
        The ``PIL.Image.Resampling`` filter.

    Returns
    -------
    (str, float)
        The order (one of :func:`pil_pass_orders`) and the largest difference, in grey levels,
        between its resize and ``expected`` (0 when Pillow is reproduced bit for bit).
    """
    size = (int(expected.shape[-2]), int(expected.shape[-1]))
    misses = {order: float((pil_resize(values, size, resample, order) - expected).abs().max())
              for order in pil_pass_orders()}
    best = min(misses, key=lambda k: misses[k])
    return best, misses[best]


def scipy_axis_operator(resize_1d: Callable[[np.ndarray], np.ndarray], in_size: int) -> np.ndarray:
    """A linear resize of one axis as an ``(out, in)`` matrix: ``resize_1d`` applied to the identity.

    ``resize_1d`` takes an ``(in_size, n)`` array and resizes its first axis (each column on its
    own, as a separable filter does).
    """
    return np.asarray(resize_1d(np.eye(in_size, dtype=np.float64)), dtype=np.float64)
