"""What a detector or a segmenter found, drawn beside its maps: boxes and region outlines.

:func:`detection_boxes` draws every detection's box (labelled with its class and score) on
the image, then one panel per detection: its map with its box over it. :func:`segment_regions`
does the same for a segmentation's regions, each outlined along its pixels' edges
(:func:`region_outline`). Boxes are ``(x1, y1, x2, y2)`` in pixels of the explained image (the
maps' ``(H, W)``, ``x = 0`` its left edge); regions are masks on the model's output grid, any
size: both are stretched, like the maps, over the image drawn.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from .._array_api import to_numpy
from ..errors import fail
from ._figure import DEFAULT_ALPHA, DEFAULT_CMAP, as_display_image, aspect, check_labels, draw_overlay, new_figure

if TYPE_CHECKING:  # pragma: no cover - typing only
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

#: Line width (points) of a box or an outline.
LINE_WIDTH = 1.8
_EDGE = "white"
_HALO = "black"


def region_outline(mask: Any) -> np.ndarray:
    """The boundary of a boolean region along its pixels' edges, as straight segments.

    A cell's side is on the boundary when the cell on its other side is outside the region
    (or outside the grid); consecutive sides on one line are merged into one segment.

    Parameters
    ----------
    mask : array
        ``(h, w)`` boolean (or 0/1) region.

    Returns
    -------
    numpy.ndarray
        ``(S, 2, 2)`` segments ``[[x0, y0], [x1, y1]]`` in grid units: ``x`` from 0 (the left
        edge of column 0) to ``w``, ``y`` from 0 (the top edge of row 0) to ``h``. Empty for an
        empty region.
    """
    arr = np.asarray(to_numpy(mask))
    if arr.ndim != 2 or (arr.dtype != bool and not np.all((arr == 0) | (arr == 1))):
        raise fail("mask", f"an array of shape {arr.shape} and dtype {arr.dtype}", "one 2-D boolean (or 0/1) mask",
                   "pass one region, e.g. explanation.masks[0]")
    padded = np.pad(arr.astype(bool), 1)
    across_rows = padded[1:, 1:-1] != padded[:-1, 1:-1]     # (h + 1, w): side at y = r, from x = c to c + 1
    across_cols = padded[1:-1, 1:] != padded[1:-1, :-1]     # (h, w + 1): side at x = c, from y = r to r + 1
    segments = [[[x0, y], [x1, y]] for y, (x0, x1) in _runs(across_rows)]
    segments += [[[x, y0], [x, y1]] for x, (y0, y1) in _runs(across_cols.T)]
    return np.asarray(segments, dtype=np.float64).reshape(-1, 2, 2)


def _runs(sides: np.ndarray) -> list[tuple[int, tuple[int, int]]]:
    """``(line, (start, stop))`` of every run of True along each row of ``sides``."""
    out = []
    edges = np.diff(np.pad(sides.astype(np.int8), ((0, 0), (1, 1))), axis=1)
    for line in np.flatnonzero(sides.any(axis=1)):
        starts = np.flatnonzero(edges[line] == 1)
        stops = np.flatnonzero(edges[line] == -1)
        out += [(int(line), (int(a), int(b))) for a, b in zip(starts, stops)]
    return out


def detection_boxes(image: Any, boxes: Any, maps: Any, *, names: Sequence[str] | None = None,
                    scores: Any = None, ncols: int = 4, title: str | None = None, alpha: float = DEFAULT_ALPHA,
                    cmap: str = DEFAULT_CMAP) -> Figure:
    """Every detection's box on the image, then each detection's map with its box over it.

    Parameters
    ----------
    image : array
        The explained image (any size: boxes and maps are stretched over it).
    boxes : array
        ``(T, 4)`` ``x1, y1, x2, y2`` boxes in pixels of the maps' ``(H, W)`` image
        (``DetectionExplanation.boxes``).
    maps : array
        ``(T, H, W)`` maps, map t for box t.
    names : sequence of str, optional
        The class name of each box (default ``"box t"``).
    scores : array, optional
        ``(T,)`` each box's score, shown beside its name.
    ncols : int
        Panels per row; the image with every box is the first panel.
    title : str, optional
        Figure title.

    Returns
    -------
    matplotlib.figure.Figure
    """
    arr = _maps(maps, "maps")
    box = np.asarray(to_numpy(boxes), dtype=np.float64)
    if box.ndim != 2 or box.shape != (arr.shape[0], 4) or not np.all(np.isfinite(box)):
        raise fail("boxes", f"an array of shape {box.shape}", f"({arr.shape[0]}, 4) finite x1, y1, x2, y2 boxes, "
                   "one per map", "pass the explanation's boxes and maps together")
    labels = _labels(names, scores, arr.shape[0], "box")
    fig, axes = _panels(image, arr.shape[0], ncols)
    scale = _scale(image, arr.shape[1:])
    draw_overlay(axes.flat[0], image, None, title="detections")
    for t in range(arr.shape[0]):
        _draw_box(axes.flat[0], box[t], scale, labels[t])
        draw_overlay(axes.flat[t + 1], image, arr[t], title=labels[t], alpha=alpha, cmap=cmap)
        _draw_box(axes.flat[t + 1], box[t], scale, None)
    if title:
        fig.suptitle(title)
    return fig


def segment_regions(image: Any, masks: Any, maps: Any, *, names: Sequence[str] | None = None, ncols: int = 4,
                    title: str | None = None, alpha: float = DEFAULT_ALPHA, cmap: str = DEFAULT_CMAP) -> Figure:
    """Every region's outline on the image, then each region's map with its outline over it.

    Parameters
    ----------
    image : array
        The explained image.
    masks : array
        ``(T, h, w)`` boolean regions on the model's output grid (``SegmentExplanation.masks``),
        stretched over the image.
    maps : array
        ``(T, H, W)`` maps, map t for region t.
    names : sequence of str, optional
        The class name of each region (default ``"region t"``).
    ncols : int
        Panels per row; the image with every outline is the first panel.
    title : str, optional
        Figure title.

    Returns
    -------
    matplotlib.figure.Figure
    """
    arr = _maps(maps, "maps")
    region = np.asarray(to_numpy(masks))
    if region.ndim != 3 or region.shape[0] != arr.shape[0]:
        raise fail("masks", f"an array of shape {region.shape}", f"({arr.shape[0]}, h, w) masks, one per map",
                   "pass the explanation's masks and maps together")
    labels = _labels(names, None, arr.shape[0], "region")
    outlines = [region_outline(m) for m in region]
    fig, axes = _panels(image, arr.shape[0], ncols)
    scale = _scale(image, region.shape[1:])
    draw_overlay(axes.flat[0], image, None, title="regions")
    for t in range(arr.shape[0]):
        _draw_outline(axes.flat[0], outlines[t], scale)
        draw_overlay(axes.flat[t + 1], image, arr[t], title=labels[t], alpha=alpha, cmap=cmap)
        _draw_outline(axes.flat[t + 1], outlines[t], scale)
    if title:
        fig.suptitle(title)
    return fig


def _maps(maps: Any, name: str) -> np.ndarray:
    arr = np.asarray(to_numpy(maps))
    if arr.ndim != 3 or arr.shape[0] < 1:
        raise fail(name, f"an array of shape {arr.shape}", "(T, H, W) maps with T >= 1",
                   "pass the explanation's maps, one per box or region")
    return arr


def _labels(names: Sequence[str] | None, scores: Any, n: int, word: str) -> list[str]:
    check_labels("names", names, n)
    labels = [str(s) for s in names] if names is not None else [f"{word} {t}" for t in range(n)]
    if scores is not None:
        values = np.asarray(to_numpy(scores), dtype=np.float64).reshape(-1)
        if values.shape[0] != n:
            raise fail("scores", f"{values.shape[0]} scores", f"{n} scores, one per box", "pass exp.scores")
        labels = [f"{label} {value:.0%}" for label, value in zip(labels, values)]
    return labels


def _panels(image: Any, n_targets: int, ncols: int) -> tuple[Figure, np.ndarray]:
    if not isinstance(ncols, int) or ncols < 1:
        raise fail("ncols", ncols, "a positive int", "use ncols=4")
    n_panels = n_targets + 1
    cols = min(ncols, n_panels)
    fig, axes = new_figure(-(-n_panels // cols), cols, aspect=aspect(image))
    return fig, axes


def _scale(image: Any, size: Sequence[int]) -> tuple[float, float]:
    """Displayed pixels per unit of a ``(rows, cols)`` grid stretched over ``image``: ``(sx, sy)``."""
    height, width = as_display_image(image).shape[:2]
    return width / int(size[1]), height / int(size[0])


def _halo() -> list[Any]:
    from matplotlib import patheffects

    return [patheffects.withStroke(linewidth=LINE_WIDTH + 1.6, foreground=_HALO)]


def _draw_box(ax: Axes, box: np.ndarray, scale: tuple[float, float], label: str | None) -> None:
    """One box in ``ax``'s data coordinates (pixel centres at integers: an edge ``x`` is at ``x - 0.5``)."""
    from matplotlib.patches import Rectangle

    sx, sy = scale
    x1, y1 = box[0] * sx - 0.5, box[1] * sy - 0.5
    ax.add_patch(Rectangle((x1, y1), (box[2] - box[0]) * sx, (box[3] - box[1]) * sy, fill=False,
                           edgecolor=_EDGE, linewidth=LINE_WIDTH, path_effects=_halo()))
    if label:
        ax.text(x1, y1, label, fontsize=7, color="black", va="bottom", ha="left", clip_on=True,
                bbox={"boxstyle": "square,pad=0.15", "facecolor": _EDGE, "edgecolor": "none", "alpha": 0.85})


def _draw_outline(ax: Axes, segments: np.ndarray, scale: tuple[float, float]) -> None:
    from matplotlib.collections import LineCollection

    sx, sy = scale
    lines = segments * np.asarray([sx, sy]) - 0.5
    ax.add_collection(LineCollection(list(lines), colors=_EDGE, linewidths=LINE_WIDTH, path_effects=_halo()))
