"""Baselines for signals: what a light leaves outside its Gaussian and a shadow puts under it.

GLAS perturbs ``b + (x - b) * M`` (docs/paper-readings.md, "perturbation"); the paper's ``b = 0``
means black for an image. For a signal, "no evidence" depends on what the signal measures:

- ``"zero"``: the paper's baseline. Right when 0 means "nothing": audio waveforms, standardised
  series (zero mean per channel), images in [0, 1]. On a series with an offset (a temperature,
  a price, an ECG with a baseline wander) a zero baseline is a step far out of distribution, so the
  map may show where the level is, not where the evidence is.
- ``"mean"``: each channel's mean over the spatial axes, per example. Keeps the level and removes
  the shape: the question becomes "which samples' deviation from the usual level matters". The
  default choice for series that are not zero-mean.
- ``"lowpass"``: a Gaussian low-pass copy (``sigma_px`` samples per axis). Keeps the trends slower
  than ``sigma_px`` and removes the detail: the map then shows which fast features (a spike, a
  motif) matter, not the slow drift the model may also read. Choose ``sigma_px`` larger than the
  features you look for (a few times their length).

Pass the returned value as ``baseline=`` to :func:`glas_core.explain` or to an adapter.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np

from ._array_api import device_of, namespace_of, to_numpy
from ._validation import normalize_spatial_axes
from .errors import fail, quoted

#: The kinds :func:`signal_baseline` builds.
BASELINE_KINDS = ("zero", "mean", "lowpass")


def gaussian_lowpass(x: np.ndarray, sigmas: Sequence[float], axes: Sequence[int]) -> np.ndarray:
    """Gaussian blur of a NumPy array along ``axes``, ``sigmas[i]`` samples along ``axes[i]``.

    Reflect padding (edge padding for an axis shorter than the kernel radius), kernel radius
    ``round(2 sigma)``, weights summing to 1 (a constant stays constant).
    """
    out = np.asarray(x, dtype=np.float64)
    for a, sigma in zip(axes, sigmas):
        radius = max(1, int(round(2 * sigma)))
        k = np.exp(-np.arange(-radius, radius + 1) ** 2 / (2.0 * sigma**2))
        k /= k.sum()
        pad = [(0, 0)] * out.ndim
        pad[a] = (radius, radius)
        padded = np.pad(out, pad, mode="reflect" if out.shape[a] > radius else "edge")
        moved = np.moveaxis(padded, a, -1)
        windows = np.lib.stride_tricks.sliding_window_view(moved, k.size, axis=-1)
        out = np.moveaxis(windows @ k, -1, a)
    return out


def signal_baseline(x: Any, kind: str = "mean", *, spatial_axes: Sequence[int] = (-1,),
                    sigma_px: float | Sequence[float] | None = None) -> Any:
    """A baseline for ``x``: ``"zero"``, each channel's ``"mean"`` or a ``"lowpass"`` copy (see the module).

    Parameters
    ----------
    x : array
        One example or a batch, in any array library glas reads (NumPy, torch, TensorFlow, JAX...).
    kind : {"zero", "mean", "lowpass"}
    spatial_axes : sequence of int
        The axes to average or smooth over: ``(-1,)`` for ``(C, T)`` and ``(N, C, T)``, ``(-2,)``
        for channels-last ``(N, T, C)``, ``(-3, -2, -1)`` for ``(C, T, H, W)`` clips. Every other
        axis (batch, channels) keeps its own mean.
    sigma_px : float or tuple of float
        With ``"lowpass"``: the scale in samples, one number or one per spatial axis.

    Returns
    -------
    float or array
        ``0.0`` for ``"zero"``; otherwise an array of ``x``'s shape, dtype, library and device.
    """
    if kind not in BASELINE_KINDS:
        raise fail("kind", quoted(kind), "'zero', 'mean' or 'lowpass'",
                   "use kind='mean' for a series with an offset, 'zero' for a zero-mean one")
    if kind == "zero":
        if sigma_px is not None:
            raise fail("sigma_px", quoted(sigma_px), "None unless kind='lowpass'", "drop sigma_px")
        return 0.0
    xp = namespace_of(x)
    host = to_numpy(x)
    if host.dtype.kind != "f":
        raise fail("x", f"dtype {host.dtype}", "a real floating array", "convert it, e.g. x.astype(float32)")
    axes = normalize_spatial_axes(spatial_axes, host.ndim)
    if kind == "mean":
        if sigma_px is not None:
            raise fail("sigma_px", quoted(sigma_px), "None unless kind='lowpass'", "drop sigma_px")
        out = np.broadcast_to(host.mean(axis=axes, keepdims=True, dtype=np.float64), host.shape)
    else:
        out = gaussian_lowpass(host, _scales(sigma_px, len(axes)), axes)
    return xp.asarray(np.ascontiguousarray(out).astype(host.dtype), dtype=x.dtype, device=device_of(x))


def _scales(sigma_px: Any, n_axes: int) -> tuple[float, ...]:
    """``sigma_px`` as one positive finite scale per spatial axis."""
    fix = "pass the low-pass scale in samples, e.g. sigma_px=10 (a few times the features you look for)"
    per_axis = sigma_px if isinstance(sigma_px, (tuple, list)) else (sigma_px,) * n_axes
    ok = len(per_axis) == n_axes and all(
        isinstance(s, numbers.Real) and not isinstance(s, bool) and np.isfinite(float(s)) and float(s) > 0
        for s in per_axis)
    if not ok:
        raise fail("sigma_px", quoted(sigma_px), f"a positive number or {n_axes} per-axis positive numbers", fix)
    return tuple(float(s) for s in per_axis)
