"""Shared pieces of every figure: display images, normalised maps, panels, overlays on an axis."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from .._array_api import to_numpy
from ..errors import fail
from ..normalize import minmax_normalize

if TYPE_CHECKING:  # pragma: no cover - typing only
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

#: Colour map of the heat maps (the paper's figures use jet).
DEFAULT_CMAP = "jet"
#: Opacity of a heat map drawn over its image.
DEFAULT_ALPHA = 0.5
PANEL_INCHES = 2.4


def new_figure(rows: int, cols: int, *, width: float | None = None, height: float | None = None,
                aspect: float = 1.0) -> tuple[Figure, np.ndarray]:
    """A pyplot-free Figure with a ``rows x cols`` array of axes, axis ticks hidden.

    ``aspect`` is height / width of one panel's image, so wide photographs get wide panels.
    """
    from matplotlib.figure import Figure

    panel_h = PANEL_INCHES * min(max(aspect, 0.4), 2.5) + 0.35  # + room for a title
    fig = Figure(figsize=(width or PANEL_INCHES * cols, height or panel_h * rows),
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


def aspect(image: Any) -> float:
    img = as_display_image(image)
    return img.shape[0] / img.shape[1]


def as_map(saliency: Any, name: str = "saliency") -> np.ndarray:
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
    return minmax_normalize(arr)


def draw_overlay(ax: Axes, image: Any, saliency: Any | None = None, *, title: str | None = None,
                 alpha: float = DEFAULT_ALPHA, cmap: str = DEFAULT_CMAP) -> Axes:
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
        ax.imshow(as_map(saliency), extent=extent, cmap=cmap, alpha=alpha, vmin=0.0, vmax=1.0,
                  interpolation="bilinear")
    ax.set_xlim(extent[0], extent[1])
    ax.set_ylim(extent[2], extent[3])
    ax.set_axis_off()
    if title:
        ax.set_title(title, fontsize=9)
    return ax



def stack_maps(maps: Any, name: str) -> np.ndarray:
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



def check_labels(name: str, labels: Sequence[str] | None, expected: int) -> None:
    if labels is not None and len(labels) != expected:
        raise fail(name, f"{len(labels)} labels", f"{expected} labels, one per panel",
                   f"pass {expected} labels or None")
