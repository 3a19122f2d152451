"""Figures of GLAS explanations: overlays and the paper's panels (Figures 1, 10 and 11).

Every function returns a :class:`matplotlib.figure.Figure` built without ``pyplot``, so no
global figure state is touched, no window opens and any backend (Agg on a server) works:
save with ``fig.savefig(path)``. matplotlib is imported inside the functions, never when
``glas_core`` is imported (install it with the ``viz`` extra).

Images may be ``(H, W)``, ``(H, W, C)`` or ``(C, H, W)`` arrays of any supported namespace,
uint8/uint16 or float. A map of a different size than the image (a model's 224 x 224 input
against the original photograph) is stretched over the whole image, which is the inverse of
resizing the image to the model's input.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from ._array_api import to_numpy
from .errors import fail

if TYPE_CHECKING:  # pragma: no cover - typing only
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

#: Colour map of the heat maps (the paper's figures use jet).
DEFAULT_CMAP = "jet"
#: Opacity of a heat map drawn over its image.
DEFAULT_ALPHA = 0.5
_PANEL_INCHES = 2.4


def _new_figure(rows: int, cols: int, *, width: float | None = None, height: float | None = None,
                aspect: float = 1.0) -> tuple["Figure", np.ndarray]:
    """A pyplot-free Figure with a ``rows x cols`` array of axes, axis ticks hidden.

    ``aspect`` is height / width of one panel's image, so wide photographs get wide panels.
    """
    from matplotlib.figure import Figure

    panel_h = _PANEL_INCHES * min(max(aspect, 0.4), 2.5) + 0.35  # + room for a title
    fig = Figure(figsize=(width or _PANEL_INCHES * cols, height or panel_h * rows),
                 layout="constrained")
    axes = np.asarray(fig.subplots(rows, cols, squeeze=False))
    for ax in axes.flat:
        ax.set_axis_off()
    return fig, axes


def as_display_image(image: Any) -> np.ndarray:
    """An image as ``(H, W, 3)`` float in [0, 1] for display.

    Integer images are divided by their dtype's maximum; float images already in [0, 1] are
    kept; other float images (e.g. normalised model inputs) are min-max rescaled.
    ``(C, H, W)`` is recognised when the last axis is not 1, 3 or 4 channels wide.
    """
    arr = to_numpy(image)
    if arr.ndim == 3 and arr.shape[-1] not in (1, 3, 4) and arr.shape[0] in (1, 3, 4):
        arr = np.moveaxis(arr, 0, -1)
    if arr.ndim == 3 and arr.shape[-1] == 4:
        arr = arr[..., :3]
    if arr.ndim == 2:
        arr = arr[..., None]
    if arr.ndim != 3 or arr.shape[-1] not in (1, 3) or min(arr.shape[:2]) < 1:
        raise fail("image", f"an array of shape {tuple(to_numpy(image).shape)}",
                   "an (H, W), (H, W, C) or (C, H, W) image with 1, 3 or 4 channels",
                   "pass one image, e.g. batch[0], with channels first or last")
    if np.issubdtype(arr.dtype, np.integer):
        arr = arr.astype(np.float64) / float(np.iinfo(arr.dtype).max)
    elif arr.dtype == np.bool_:
        arr = arr.astype(np.float64)
    else:
        arr = arr.astype(np.float64)
        if not np.all(np.isfinite(arr)):
            raise fail("image", "an image with NaN or infinite values", "finite pixel values",
                       "replace non-finite pixels, e.g. np.nan_to_num(image)")
        low, high = float(arr.min()), float(arr.max())
        if low < 0.0 or high > 1.0:
            arr = (arr - low) / (high - low) if high > low else np.zeros_like(arr)
    if arr.shape[-1] == 1:
        arr = np.repeat(arr, 3, axis=-1)
    return np.clip(arr, 0.0, 1.0)


def _aspect(image: Any) -> float:
    img = as_display_image(image)
    return img.shape[0] / img.shape[1]


def _as_map(saliency: Any, name: str = "saliency") -> np.ndarray:
    """A 2-D map as float64, min-max normalised to [0, 1] (a constant map becomes zeros)."""
    arr = np.asarray(to_numpy(saliency), dtype=np.float64)
    while arr.ndim > 2 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.ndim != 2:
        raise fail(name, f"an array of shape {arr.shape}", "one 2-D map (H, W)",
                   "select one target, e.g. result.saliency[0]")
    if not np.all(np.isfinite(arr)):
        raise fail(name, "a map with NaN or infinite values", "a finite map",
                   "check the model outputs that produced it")
    low, high = float(arr.min()), float(arr.max())
    return (arr - low) / (high - low) if high > low else np.zeros_like(arr)


def draw_overlay(ax: "Axes", image: Any, saliency: Any | None = None, *, title: str | None = None,
                 alpha: float = DEFAULT_ALPHA, cmap: str = DEFAULT_CMAP) -> "Axes":
    """Draw ``image`` and, over it, ``saliency`` stretched to the image's extent, on ``ax``.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
        Where to draw.
    image : array
        The image (see :func:`as_display_image`).
    saliency : array, optional
        A 2-D map (leading singleton axes are dropped); min-max normalised for display.
    title : str, optional
        Axes title.
    alpha, cmap
        Opacity and colour map of the heat map.
    """
    img = as_display_image(image)
    height, width = img.shape[:2]
    extent = (-0.5, width - 0.5, height - 0.5, -0.5)  # pixel edges, so both layers cover the same box
    ax.imshow(img, extent=extent, interpolation="antialiased")
    if saliency is not None:
        ax.imshow(_as_map(saliency), extent=extent, cmap=cmap, alpha=alpha, vmin=0.0, vmax=1.0,
                  interpolation="bilinear")
    ax.set_xlim(extent[0], extent[1])
    ax.set_ylim(extent[2], extent[3])
    ax.set_axis_off()
    if title:
        ax.set_title(title, fontsize=9)
    return ax


def overlay(image: Any, saliency: Any, *, title: str | None = None, alpha: float = DEFAULT_ALPHA,
            cmap: str = DEFAULT_CMAP) -> "Figure":
    """One heat map over its image.

    Parameters
    ----------
    image : array
        ``(H, W)``, ``(H, W, C)`` or ``(C, H, W)``.
    saliency : array
        A 2-D map, e.g. ``result.saliency[0]``; any size (stretched over the image).
    title : str, optional
        Figure title.
    alpha, cmap
        Opacity and colour map of the heat map.

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig, axes = _new_figure(1, 1, width=4.0, height=4.0 * min(max(_aspect(image), 0.4), 2.5) + 0.4)
    draw_overlay(axes[0, 0], image, saliency, title=title, alpha=alpha, cmap=cmap)
    return fig


def _stack_maps(maps: Any, name: str) -> np.ndarray:
    """Maps given as an array or a list of arrays / GLASResults -> one numpy array."""
    if isinstance(maps, (list, tuple)):
        if len(maps) == 0:
            raise fail(name, "an empty list", "at least one map", "pass the maps to draw")
        parts = [to_numpy(getattr(m, "saliency", m)) for m in maps]
        shapes = {p.shape for p in parts}
        if len(shapes) != 1:
            raise fail(name, f"maps of shapes {sorted(shapes)}", "maps of one shape",
                       "explain every scale on the same input")
        # GLASResults from explain_multiscale are (T, H, W) each: scales become axis 1.
        return np.stack(parts, axis=1 if parts[0].ndim == 3 else 0)
    return np.asarray(to_numpy(maps))


def multiscale_strip(image: Any, maps: Any, *, scale_labels: Sequence[str] | None = None,
                     row_labels: Sequence[str] | None = None, title: str | None = None,
                     alpha: float = DEFAULT_ALPHA, cmap: str = DEFAULT_CMAP) -> "Figure":
    """Coarse-to-fine maps beside the image (the paper's Figure 1).

    Parameters
    ----------
    image : array
        The explained image.
    maps : array or list
        ``(S, H, W)`` for one target, ``(T, S, H, W)`` for one row per target, or the list of
        :class:`~glas_core.GLASResult` that :func:`glas_core.explain_multiscale` returns
        (every target becomes a row).
    scale_labels : sequence of str, optional
        One column title per scale, e.g. ``["sigma=5", "sigma=3", "sigma=1"]``.
    row_labels : sequence of str, optional
        One label per target row (class name and probability), shown on the image column.
    title : str, optional
        Figure title.

    Returns
    -------
    matplotlib.figure.Figure
    """
    arr = _stack_maps(maps, "maps")
    if arr.ndim == 3:
        arr = arr[None]
    if arr.ndim != 4:
        raise fail("maps", f"an array of shape {arr.shape}", "(S, H, W) or (T, S, H, W) maps",
                   "stack one map per scale (and per target)")
    n_rows, n_scales = arr.shape[:2]
    _check_labels("scale_labels", scale_labels, n_scales)
    _check_labels("row_labels", row_labels, n_rows)
    fig, axes = _new_figure(n_rows, n_scales + 1, aspect=_aspect(image))
    for r in range(n_rows):
        draw_overlay(axes[r, 0], image, None, title=row_labels[r] if row_labels else None)
        for s in range(n_scales):
            label = scale_labels[s] if scale_labels and r == 0 else None
            draw_overlay(axes[r, s + 1], image, arr[r, s], title=label, alpha=alpha, cmap=cmap)
    if title:
        fig.suptitle(title)
    return fig


def recursive_iterations(image: Any, result: Any, *, target: int = 0, title: str | None = None,
                         alpha: float = DEFAULT_ALPHA, cmap: str = DEFAULT_CMAP) -> "Figure":
    """The iterations of Recursive GLAS and their accumulated map (the paper's Figure 10).

    Parameters
    ----------
    image : array
        The explained image.
    result : RecursiveResult or sequence of arrays
        :func:`glas_core.explain_recursive`'s result (``target`` selects the row), or the
        iteration maps themselves (then no accumulated panel is drawn).
    target : int
        Which target of ``result`` to draw.
    title : str, optional
        Figure title.

    Returns
    -------
    matplotlib.figure.Figure
        The image, one panel per iteration (in order of discovery), and the accumulated map.
    """
    if hasattr(result, "iterations"):
        n_targets = len(result.iterations)
        if not isinstance(target, int) or not 0 <= target < n_targets:
            raise fail("target", target, f"an int in [0, {n_targets})", "pick a target of the result")
        iteration_maps = [it.saliency for it in result.iterations[target]]
        accumulated = to_numpy(result.saliency)[target]
    else:
        iteration_maps = list(result)
        accumulated = None
    if not iteration_maps:
        raise fail("result", "no iterations", "at least one RGLAS iteration", "run explain_recursive first")
    n_panels = 1 + len(iteration_maps) + (accumulated is not None)
    fig, axes = _new_figure(1, n_panels, aspect=_aspect(image))
    draw_overlay(axes[0, 0], image, None, title="image")
    for i, m in enumerate(iteration_maps):
        draw_overlay(axes[0, i + 1], image, m, title=f"iteration {i + 1}", alpha=alpha, cmap=cmap)
    if accumulated is not None:
        draw_overlay(axes[0, -1], image, accumulated, title="accumulated", alpha=alpha, cmap=cmap)
    if title:
        fig.suptitle(title)
    return fig


def caption_words(image: Any, words: Sequence[str], maps: Any, *, caption: str | None = None,
                  ncols: int = 4, alpha: float = DEFAULT_ALPHA, cmap: str = DEFAULT_CMAP) -> "Figure":
    """One map per caption word, titled with the word (the paper's Figure 11).

    Parameters
    ----------
    image : array
        The captioned image.
    words : sequence of str
        The T explained words.
    maps : array
        ``(T, H, W)`` maps, one per word.
    caption : str, optional
        The caption, shown as the figure title (default: the words joined).
    ncols : int
        Panels per row; the image itself is the first panel.

    Returns
    -------
    matplotlib.figure.Figure
    """
    arr = np.asarray(to_numpy(maps))
    words = list(words)
    if arr.ndim != 3 or arr.shape[0] != len(words) or not words:
        raise fail("maps", f"an array of shape {arr.shape} for {len(words)} words",
                   "(T, H, W) maps with T equal to the number of words (T >= 1)",
                   "pass the explanation's words and maps together")
    if not isinstance(ncols, int) or ncols < 1:
        raise fail("ncols", ncols, "a positive int", "use ncols=4")
    n_panels = len(words) + 1
    cols = min(ncols, n_panels)
    rows = -(-n_panels // cols)
    fig, axes = _new_figure(rows, cols, aspect=_aspect(image))
    draw_overlay(axes.flat[0], image, None, title="image")
    for i, (word, m) in enumerate(zip(words, arr)):
        draw_overlay(axes.flat[i + 1], image, m, title=word, alpha=alpha, cmap=cmap)
    fig.suptitle(caption if caption is not None else " ".join(words))
    return fig


def volume_slices(volume: Any, saliency: Any, *, index: Sequence[int] | None = None,
                  title: str | None = None, alpha: float = DEFAULT_ALPHA, cmap: str = DEFAULT_CMAP
                  ) -> "Figure":
    """Axial, coronal and sagittal slices of a 3-D volume with its map over them.

    Parameters
    ----------
    volume : array
        ``(D, H, W)`` intensities (a leading channel axis of 1 is dropped).
    saliency : array
        ``(D, H, W)`` map of the same shape (a leading target axis of 1 is dropped).
    index : (int, int, int), optional
        The voxel the three slices pass through; default: the map's maximum.
    title : str, optional
        Figure title.

    Returns
    -------
    matplotlib.figure.Figure
        Three panels: ``volume[d]`` (axial), ``volume[:, h]`` (coronal), ``volume[:, :, w]``
        (sagittal), each with the matching slice of the map.
    """
    vol = np.asarray(to_numpy(volume), dtype=np.float64)
    sal = np.asarray(to_numpy(saliency), dtype=np.float64)
    while vol.ndim > 3 and vol.shape[0] == 1:
        vol = vol[0]
    while sal.ndim > 3 and sal.shape[0] == 1:
        sal = sal[0]
    if vol.ndim != 3 or sal.shape != vol.shape:
        raise fail("saliency", f"volume {vol.shape} and map {sal.shape}",
                   "a (D, H, W) volume and a map of the same shape",
                   "select one target, e.g. result.saliency[0], for volume[0]")
    if not (np.all(np.isfinite(vol)) and np.all(np.isfinite(sal))):
        raise fail("volume", "non-finite values", "finite volume and map", "replace NaN/inf voxels")
    if index is None:
        index = np.unravel_index(int(np.argmax(sal)), sal.shape)
    index = tuple(int(i) for i in index)
    if len(index) != 3 or not all(0 <= i < n for i, n in zip(index, vol.shape)):
        raise fail("index", index, f"three voxel indices inside {vol.shape}", "omit it to use the map's peak")
    low, high = float(vol.min()), float(vol.max())
    vol = (vol - low) / (high - low) if high > low else np.zeros_like(vol)
    d, h, w = index
    views = [("axial", vol[d], sal[d], f"d={d}"), ("coronal", vol[:, h], sal[:, h], f"h={h}"),
             ("sagittal", vol[:, :, w], sal[:, :, w], f"w={w}")]
    fig, axes = _new_figure(1, 3)
    for ax, (name, img, heat, where) in zip(axes[0], views):
        ax.imshow(img, cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
        scaled = _scale_to_volume_max(heat, sal)
        ax.imshow(scaled, cmap=cmap, alpha=alpha, vmin=0.0, vmax=1.0, interpolation="nearest")
        ax.set_title(f"{name} ({where})", fontsize=9)
    if title:
        fig.suptitle(title)
    return fig


def _scale_to_volume_max(heat: np.ndarray, full: np.ndarray) -> np.ndarray:
    """A slice of the map scaled by the whole volume's range, so slices compare to each other."""
    low, high = float(full.min()), float(full.max())
    return (heat - low) / (high - low) if high > low else np.zeros_like(heat)


def region_ranking(names: Sequence[str], scores: Any, *, top: int | None = None,
                   title: str | None = None, xlabel: str = "impact") -> "Figure":
    """Horizontal bar chart of regions ranked by score, highest at the top.

    Parameters
    ----------
    names : sequence of str
        One name per region.
    scores : array
        One score per region.
    top : int, optional
        Show only the ``top`` highest-scoring regions.
    title, xlabel : str
        Figure title and axis label.

    Returns
    -------
    matplotlib.figure.Figure
    """
    names = [str(n) for n in names]
    vals = np.asarray(to_numpy(scores), dtype=np.float64).reshape(-1)
    if len(names) != vals.shape[0] or not names:
        raise fail("scores", f"{vals.shape[0]} scores for {len(names)} names",
                   "one score per region name (at least one)", "pass names and scores of the same regions")
    if not np.all(np.isfinite(vals)):
        raise fail("scores", "non-finite scores", "finite region scores", "check the region impacts")
    if top is not None and (not isinstance(top, int) or top < 1):
        raise fail("top", top, "a positive int or None", "use top=10")
    order = np.argsort(-vals, kind="stable")[: top or len(names)]
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.0, 0.35 * len(order) + 1.2), layout="constrained")
    ax = fig.subplots()
    positions = np.arange(len(order))[::-1]  # the best region on the top row
    ax.barh(positions, vals[order], color="tab:red")
    ax.set_yticks(positions, [names[i] for i in order])
    ax.set_xlabel(xlabel)
    if title:
        ax.set_title(title)
    return fig


def _check_labels(name: str, labels: Sequence[str] | None, expected: int) -> None:
    if labels is not None and len(labels) != expected:
        raise fail(name, f"{len(labels)} labels", f"{expected} labels, one per panel",
                   f"pass {expected} labels or None")
