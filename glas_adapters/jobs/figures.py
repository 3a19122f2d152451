"""A job's figures, drawn from a copy of the image no larger than the figure shows.

A 40-megapixel photo drawn as it is costs gigabytes (every panel converts the whole image to
float64); the panels are about 260 pixels wide, so each figure draws a copy whose longest side
is at most ``max_side`` pixels, and maps are stretched over it as before.

The copy is made by :func:`~glas_adapters.jobs.image_io.resize_image`, the resampling the
models use, so figures and model inputs are resampled alike.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import numpy as np

from glas_adapters.jobs.image_io import resize_image
from glas_adapters.jobs.spec import sigma_text


def figure_copy(image: np.ndarray, max_side: int) -> np.ndarray:
    """``image`` (``(H, W, 3)`` in [0, 1]) downscaled so that its longest side is at most ``max_side``.

    An image already small enough is returned as it is (not copied).
    """
    height, width = image.shape[:2]
    scale = max_side / max(height, width)
    if scale >= 1.0:
        return image
    size = (max(1, round(height * scale)), max(1, round(width * scale)))
    return resize_image(image, size)


def png_bytes(fig: Any, dpi: int) -> bytes:
    """A matplotlib figure as PNG bytes."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def classifier_figures(image: np.ndarray, results: list[Any], targets: list[int], probs: np.ndarray, model: Any,
                       sigmas: Sequence[Any], mode: str, recursive: bool, name: str, *, max_side: int,
                       dpi: int) -> list[tuple[str, bytes]]:
    """``(file suffix, PNG)`` pairs: one strip for all targets and scales, or one RGLAS panel per target."""
    from glas_core import viz

    small = figure_copy(image, max_side)
    labels = [f"{model.label(t)}  {probs[t]:.1%}" for t in targets]
    if recursive:
        return [(f"_rglas_{rank + 1}", png_bytes(viz.recursive_iterations(
            small, results[0], target=rank, title=f"{name}: recursive GLAS for {labels[rank]}"), dpi))
            for rank in range(len(targets))]
    maps = np.stack([r.to_numpy() for r in results], axis=1)
    scales = [f"sigma = {sigma_text(s)}" for s in sigmas]
    fig = viz.multiscale_strip(small, maps, row_labels=labels, scale_labels=scales,
                               title=f"{name}: GLAS ({mode}), {model.description}")
    return [("", png_bytes(fig, dpi))]


def caption_figure(exp: Any, max_side: int, dpi: int) -> bytes:
    """One panel per caption word over a downscaled copy of the captioned image."""
    from glas_core import viz

    fig = viz.caption_words(figure_copy(np.asarray(exp.image), max_side), exp.words, exp.maps,
                            caption=exp.caption)
    return png_bytes(fig, dpi)


#: Samples a waveform figure draws at most; a longer waveform is drawn from every n-th sample.
MAX_SERIES_POINTS = 20000


def series_figure(waveform: np.ndarray, saliency: np.ndarray, sampling_rate: int, title: str, *, dpi: int = 110
                  ) -> bytes:
    """A waveform over seconds with its map as a colour band below it (:func:`glas_core.viz.series`).

    A waveform longer than :data:`MAX_SERIES_POINTS` samples is drawn from every n-th sample
    (the map from the same samples), which the figure's width cannot tell apart.
    """
    from glas_core import viz

    step = max(1, -(-int(waveform.shape[-1]) // MAX_SERIES_POINTS))
    times = np.arange(waveform.shape[-1])[::step] / float(sampling_rate)
    fig = viz.series(waveform[..., ::step], saliency[::step], times=times, xlabel="seconds", title=title)
    return png_bytes(fig, dpi)


def video_figure(frames: np.ndarray, saliency: np.ndarray, title: str, *, dpi: int = 110) -> bytes:
    """A strip of the clip's frames with the map over them (:func:`glas_core.viz.video_frames`)."""
    from glas_core import viz

    return png_bytes(viz.video_frames(frames, saliency, title=title), dpi)
