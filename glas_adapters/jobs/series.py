"""Series in a job: ``.npy`` files ``(C, T)`` (or ``(T,)``, one channel) explained by a sequence classifier.

The model is a TorchScript file whose first layer is Conv1d or a ``.keras`` file whose input is
``(None, T, C)`` (:mod:`~glas_adapters.jobs.models.series_models`). Each file gets one map of
length T per target and scale, from the same sweeps as an image's (``--target``, ``--top-k``,
several ``--sigma`` values, ``--recursive``); its manifest rows carry ``height`` 1 and ``width``
T, as a waveform's do (:mod:`~glas_adapters.jobs.signals`). Figures (``--figures``): one PNG per
target, the channels over the time steps with the map as a band below them
(:func:`glas_core.viz.series`), at the finest scale (the accumulated map for ``--recursive``).

A job explains series or images, never both with one model: :func:`check_job_inputs` refuses
the mix before any work is done. ONNX sequence models are refused (:func:`check_onnx_inputs`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from glas_adapters.jobs.figures import MAX_SERIES_POINTS, png_bytes
from glas_adapters.jobs.layout import ImageOutput, npz_bytes, raw_arrays
from glas_adapters.jobs.sources import ImageItem
from glas_core.errors import fail

SERIES_SUFFIX = ".npy"
#: Channels a figure draws at most (one panel each); the map is over all of them.
MAX_FIGURE_CHANNELS = 8
_SERIES_MODELS = "a TorchScript model whose first layer is Conv1d, or a .keras model whose input is (None, T, C)"


def read_series(path: str) -> np.ndarray:
    """The ``(C, T)`` float32 series of a ``.npy`` file (``(T,)`` is read as one channel).

    Raises
    ------
    GLASError
        A file numpy cannot read, an array of another rank (an image, a clip), an empty, non-real
        or non-finite array.
    """
    from glas_adapters.jobs.signals import read_signal

    values, _ = read_signal(path)
    shape = tuple(values.shape)
    if values.ndim not in (1, 2):
        raise fail("IMAGE", f"a .npy array of shape {shape} for a sequence classifier",
                   "a series of shape (T,) or (C, T), channels first",
                   "save one series per file (an image or a clip needs an image or video classifier)")
    if not (np.issubdtype(values.dtype, np.floating) or np.issubdtype(values.dtype, np.integer)):
        raise fail("IMAGE", f"a .npy array of dtype {values.dtype}", "a series of real numbers",
                   "save it as float32: np.save(path, x.astype('float32'))")
    series = np.asarray(values, dtype=np.float32).reshape((1, -1) if values.ndim == 1 else shape)
    if series.size == 0:
        raise fail("IMAGE", f"an empty .npy array of shape {shape}", "a series of at least one time step",
                   "check the file")
    if not np.all(np.isfinite(series)):
        raise fail("IMAGE", "a series with NaN or infinite values", "finite values",
                   "replace them (e.g. np.nan_to_num) before saving")
    return series


def check_layout(series: np.ndarray, model: Any) -> None:
    """Refuse a series whose channels are not the model's: a ``(T, C)`` file, or another channel count."""
    channels, length = series.shape
    want = getattr(model, "channels", None)
    if want is None or channels == want:
        return
    if length == want:
        raise fail("IMAGE", f"a series of shape {series.shape} whose last axis holds the model's {want} channels: "
                   "a (T, C) series", "a (C, T) series, channels before time steps",
                   "save it channels first: np.save(path, x.T)")
    raise fail("IMAGE", f"a series of {channels} channel{'s' if channels != 1 else ''} (shape {series.shape})",
               f"{want} channels, as the model's first layer reads", f"give the model (C={want}, T) series")


def explain_series(explainer: Any, item: ImageItem, progress: bool) -> tuple[ImageOutput, dict[str, np.ndarray],
                                                                            int]:
    """One series file explained by ``explainer`` (an :class:`~glas_adapters.jobs.work.ImageExplainer`):
    its output (rows, maps, figures), raw maps for ``--save-maps`` and forward passes."""

    model, spec = explainer.model, explainer.spec
    series = read_series(item.path)
    check_layout(series, model)
    x = model.prepare(series)
    probs = model.probabilities(x)
    targets = explainer._targets(item, probs)
    results = model.explain(x, targets, spec.settings(progress))
    rows, maps = explainer.maps_and_rows(item, targets, probs, results)
    figures = {}
    if spec.figures:
        final = results[-1].to_numpy()  # the finest scale, or the accumulated recursive map
        for ti, t in enumerate(targets):
            title = f"{os.path.basename(item.path)}: {model.label(t)}  {probs[t]:.1%}"
            figures[f"{item.image_id}_target{t}.png"] = series_png(series, final[ti], title)
    raw = raw_arrays(results, targets, probs, model, spec.recursive) if spec.keep_raw else {}
    n_forward = 1 + sum(int(r.n_forward) for r in results)  # the prediction, then the sweeps
    return ImageOutput(item.image_id, rows, npz_bytes(maps), figures), raw, n_forward


def series_png(series: np.ndarray, saliency: np.ndarray, title: str, *, dpi: int = 110) -> bytes:
    """The channels over the time steps with the map as a band below them (:func:`glas_core.viz.series`).

    At most :data:`MAX_FIGURE_CHANNELS` channels are drawn (the title says so), and a series
    longer than :data:`~glas_adapters.jobs.figures.MAX_SERIES_POINTS` steps from every n-th step.
    """
    from glas_core import viz

    shown = series[:MAX_FIGURE_CHANNELS]
    if len(series) > MAX_FIGURE_CHANNELS:
        title += f" (channels 1-{MAX_FIGURE_CHANNELS} of {len(series)})"
    length = series.shape[-1]
    if length < 2:  # a one-step series has no line to draw: repeat the step
        shown, saliency = np.repeat(shown, 2, axis=-1), np.repeat(saliency, 2)
    step = max(1, -(-length // MAX_SERIES_POINTS))
    times = np.arange(shown.shape[-1])[::step]
    fig = viz.series(shown[:, ::step], saliency[::step], times=times, xlabel="time step", title=title)
    return png_bytes(fig, dpi)


def check_onnx_inputs(model_spec: str, items: Sequence[ImageItem]) -> None:
    """Refuse ``.npy`` series for an ONNX model: :mod:`glas_adapters.onnx` explains 4-D image inputs only."""
    if model_spec.lower().endswith(".onnx") and any(_is_series_file(i.path) for i in items):
        raise fail("--model", f"the ONNX model {model_spec!r} with .npy series among the inputs",
                   f"{_SERIES_MODELS} (glas_adapters.onnx explains 4-D image inputs only)",
                   "export the PyTorch model with torch.jit.script(model).save('model.pt') and pass that file")


def check_job_inputs(model: Any, items: Sequence[ImageItem]) -> None:
    """Refuse images for a sequence classifier, and ``.npy`` series for an image classifier."""
    kind = getattr(model, "kind", None)
    if kind == "series":
        other = next((i.path for i in items if not _is_series_file(i.path)), None)
        if other is not None:
            raise fail("IMAGE", f"{other!r}, not a .npy series, for the sequence classifier {model.description}",
                       "only .npy series (C, T) or (T,) with a sequence classifier (a folder holding images is "
                       "walked for its images only)",
                       "put the series in a folder of their own; explain images with an image classifier in "
                       "another run")
    elif kind == "classifier":
        series = next((i.path for i in items if _is_series_file(i.path)), None)
        if series is not None:
            raise fail("IMAGE", f"the .npy file {series!r} for the image classifier {model.description}",
                       f"images, or .npy series with {_SERIES_MODELS}",
                       "pass a sequence classifier for series, and image files for this model")


def _is_series_file(path: str) -> bool:
    return path.lower().endswith(SERIES_SUFFIX)
