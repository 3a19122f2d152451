"""Figures of signals other than images: a 1-D map under its series, a video map over its frames."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from .._array_api import to_numpy
from ..errors import fail
from ..normalize import minmax_normalize
from ._figure import DEFAULT_ALPHA, DEFAULT_CMAP, PANEL_INCHES, as_display_image, new_figure

if TYPE_CHECKING:  # pragma: no cover - typing only
    from matplotlib.figure import Figure

#: Frames drawn by default; a longer clip shows this many, evenly spaced.
MAX_FRAMES = 8


def _finite(name: str, arr: np.ndarray, fix: str) -> None:
    if not np.all(np.isfinite(arr)):
        raise fail(name, "values with NaN or inf", "finite values", fix)


def series(signal: Any, saliency: Any, *, times: Any = None, channel_names: Sequence[str] | None = None,
           title: str | None = None, xlabel: str = "time", cmap: str = DEFAULT_CMAP) -> Figure:
    """A 1-D map drawn under its signal: one line panel per channel, then the map as a colour band.

    The layout of Captum's ``visualize_timeseries_attr`` (its ``overlay_individual`` method
    with the attribution in its own band): the band's colour at time ``t`` is the map at
    ``t``, min-max normalised over the series, on the panels' shared time axis.

    Parameters
    ----------
    signal : array
        ``(T,)`` one channel or ``(C, T)`` channels first (a waveform, a sensor series).
    saliency : array
        ``(T,)`` map (a leading target axis of 1 is dropped).
    times : array, optional
        ``(T,)`` time of each sample (e.g. seconds: ``np.arange(T) / sampling_rate``);
        default the sample index.
    channel_names : sequence of str, optional
        One label per channel.
    title, xlabel : str
        Figure title and time-axis label.
    cmap : str
        Colour map of the band.

    Returns
    -------
    matplotlib.figure.Figure
        ``C + 1`` axes: the channels, then the band.
    """
    sig = np.asarray(to_numpy(signal), dtype=np.float64)
    sal = np.asarray(to_numpy(saliency), dtype=np.float64)
    if sig.ndim == 1:
        sig = sig[None]
    while sal.ndim > 1 and sal.shape[0] == 1:
        sal = sal[0]
    if sig.ndim != 2 or sal.ndim != 1 or sal.shape[0] != sig.shape[1] or sig.shape[1] < 2:
        raise fail("saliency", f"signal {tuple(np.shape(to_numpy(signal)))} and map {sal.shape}",
                   "a (T,) or (C, T) signal (T >= 2) and a (T,) map", "select one target, e.g. maps[0]")
    _finite("signal", sig, "replace NaN/inf samples")
    _finite("saliency", sal, "check the model outputs that produced it")
    n_channels, length = sig.shape
    x = np.arange(length, dtype=np.float64) if times is None else np.asarray(to_numpy(times), dtype=np.float64)
    if x.shape != (length,) or not np.all(np.isfinite(x)) or np.any(np.diff(x) <= 0):
        raise fail("times", f"an array of shape {x.shape}", f"{length} increasing finite times, one per sample",
                   "pass e.g. times=np.arange(T) / sampling_rate, or leave it out")
    if channel_names is not None and len(channel_names) != n_channels:
        raise fail("channel_names", f"{len(channel_names)} names", f"{n_channels} names, one per channel",
                    f"pass {n_channels} names or None")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7.0, 1.3 * n_channels + 1.2), layout="constrained")
    axes = fig.subplots(n_channels + 1, 1, sharex=True,
                        gridspec_kw={"height_ratios": [3.0] * n_channels + [1.0]}, squeeze=False)[:, 0]
    for c in range(n_channels):
        axes[c].plot(x, sig[c], color="black", linewidth=0.8)
        axes[c].set_ylabel(channel_names[c] if channel_names else (f"channel {c}" if n_channels > 1 else "signal"),
                           fontsize=8)
    # the band spans sample edges: sample t covers [x_t - dx/2, x_t + dx/2]
    half = (x[1] - x[0]) / 2.0, (x[-1] - x[-2]) / 2.0
    band = axes[-1]
    band.imshow(minmax_normalize(sal)[None, :], aspect="auto", cmap=cmap, vmin=0.0, vmax=1.0,
                interpolation="nearest", extent=(x[0] - half[0], x[-1] + half[1], 0.0, 1.0))
    band.set_yticks([])
    band.set_ylabel("map", fontsize=8)
    band.set_xlabel(xlabel)
    if title:
        fig.suptitle(title)
    return fig


def _frame_indices(n_frames: int, frames: Sequence[int] | None) -> list[int]:
    if frames is None:
        if n_frames <= MAX_FRAMES:
            return list(range(n_frames))
        return [int(i) for i in np.unique(np.linspace(0, n_frames - 1, MAX_FRAMES).round().astype(int))]
    chosen = [int(i) for i in frames]
    if not chosen or any(not 0 <= i < n_frames for i in chosen):
        raise fail("frames", list(frames), f"frame indices in [0, {n_frames})", "omit it to show evenly spaced frames")
    return chosen


def video_frames(clip: Any, saliency: Any, *, frames: Sequence[int] | None = None, ncols: int = MAX_FRAMES,
                 title: str | None = None, alpha: float = DEFAULT_ALPHA, cmap: str = DEFAULT_CMAP) -> Figure:
    """A strip of frames with the map over each, scaled by the whole clip's range.

    One colour scale for all frames (the map's minimum and maximum over the whole clip), so a
    frame the model ignores looks cold beside the frame it reads.

    Parameters
    ----------
    clip : array
        ``(T, H, W)`` or ``(T, H, W, C)`` frames (uint8, or floats; see
        :func:`~glas_core.viz.as_display_image`).
    saliency : array
        ``(T, h, w)`` map of the same number of frames (a leading target axis of 1 is dropped);
        another frame size is stretched over the frames.
    frames : sequence of int, optional
        The frames to draw; default all, or 8 evenly spaced ones of a longer clip.
    ncols : int
        Panels per row.
    title : str, optional
        Figure title.

    Returns
    -------
    matplotlib.figure.Figure
        One panel per drawn frame, titled with its index.
    """
    video = to_numpy(clip)
    sal = np.asarray(to_numpy(saliency), dtype=np.float64)
    while sal.ndim > 3 and sal.shape[0] == 1:
        sal = sal[0]
    if video.ndim not in (3, 4) or sal.ndim != 3 or sal.shape[0] != video.shape[0]:
        raise fail("saliency", f"clip {tuple(video.shape)} and map {sal.shape}",
                   "a (T, H, W[, C]) clip and a (T, h, w) map of as many frames", "select one target, e.g. maps[0]")
    _finite("saliency", sal, "check the model outputs that produced it")
    if isinstance(ncols, bool) or not isinstance(ncols, int) or ncols < 1:
        raise fail("ncols", ncols, "a positive int", f"use ncols={MAX_FRAMES}")
    shown = _frame_indices(int(sal.shape[0]), frames)
    low, high = float(sal.min()), float(sal.max())
    scaled = (sal - low) / (high - low) if high > low else np.zeros_like(sal)
    cols = min(ncols, len(shown))
    rows = -(-len(shown) // cols)
    first = as_display_image(video[0])
    fig, axes = new_figure(rows, cols, width=PANEL_INCHES * cols, aspect=first.shape[0] / first.shape[1])
    for ax, t in zip(axes.flat, shown):
        img = as_display_image(video[t])
        height, width = img.shape[:2]
        extent = (-0.5, width - 0.5, height - 0.5, -0.5)
        ax.imshow(img, extent=extent, interpolation="antialiased")
        ax.imshow(scaled[t], extent=extent, cmap=cmap, alpha=alpha, vmin=0.0, vmax=1.0, interpolation="bilinear")
        ax.set_title(f"frame {t}", fontsize=9)
    for ax in list(axes.flat)[len(shown):]:
        fig.delaxes(ax)
    if title:
        fig.suptitle(title)
    return fig
