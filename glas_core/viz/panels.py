"""The paper's panels of one image: an overlay, coarse to fine scales (Figure 1), recursive
iterations (Figure 10) and caption words (Figure 11)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from .._array_api import to_numpy
from ..errors import fail
from ._figure import DEFAULT_ALPHA, DEFAULT_CMAP, aspect, check_labels, draw_overlay, new_figure, stack_maps

if TYPE_CHECKING:  # pragma: no cover - typing only
    from matplotlib.figure import Figure


def overlay(image: Any, saliency: Any, *, title: str | None = None, alpha: float = DEFAULT_ALPHA,
            cmap: str = DEFAULT_CMAP) -> Figure:
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
    fig, axes = new_figure(1, 1, width=4.0, height=4.0 * min(max(aspect(image), 0.4), 2.5) + 0.4)
    draw_overlay(axes[0, 0], image, saliency, title=title, alpha=alpha, cmap=cmap)
    return fig



def multiscale_strip(image: Any, maps: Any, *, scale_labels: Sequence[str] | None = None,
                     row_labels: Sequence[str] | None = None, title: str | None = None,
                     alpha: float = DEFAULT_ALPHA, cmap: str = DEFAULT_CMAP) -> Figure:
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
    arr = stack_maps(maps, "maps")
    if arr.ndim == 3:
        arr = arr[None]
    if arr.ndim != 4:
        raise fail("maps", f"an array of shape {arr.shape}", "(S, H, W) or (T, S, H, W) maps",
                   "stack one map per scale (and per target)")
    n_rows, n_scales = arr.shape[:2]
    check_labels("scale_labels", scale_labels, n_scales)
    check_labels("row_labels", row_labels, n_rows)
    fig, axes = new_figure(n_rows, n_scales + 1, aspect=aspect(image))
    for r in range(n_rows):
        draw_overlay(axes[r, 0], image, None, title=row_labels[r] if row_labels else None)
        for s in range(n_scales):
            label = scale_labels[s] if scale_labels and r == 0 else None
            draw_overlay(axes[r, s + 1], image, arr[r, s], title=label, alpha=alpha, cmap=cmap)
    if title:
        fig.suptitle(title)
    return fig


def recursive_iterations(image: Any, result: Any, *, target: int = 0, title: str | None = None,
                         alpha: float = DEFAULT_ALPHA, cmap: str = DEFAULT_CMAP) -> Figure:
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
    fig, axes = new_figure(1, n_panels, aspect=aspect(image))
    draw_overlay(axes[0, 0], image, None, title="image")
    for i, m in enumerate(iteration_maps):
        draw_overlay(axes[0, i + 1], image, m, title=f"iteration {i + 1}", alpha=alpha, cmap=cmap)
    if accumulated is not None:
        draw_overlay(axes[0, -1], image, accumulated, title="accumulated", alpha=alpha, cmap=cmap)
    if title:
        fig.suptitle(title)
    return fig


def caption_words(image: Any, words: Sequence[str], maps: Any, *, caption: str | None = None,
                  ncols: int = 4, alpha: float = DEFAULT_ALPHA, cmap: str = DEFAULT_CMAP) -> Figure:
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
    fig, axes = new_figure(rows, cols, aspect=aspect(image))
    draw_overlay(axes.flat[0], image, None, title="image")
    for i, (word, m) in enumerate(zip(words, arr)):
        draw_overlay(axes.flat[i + 1], image, m, title=word, alpha=alpha, cmap=cmap)
    fig.suptitle(caption if caption is not None else " ".join(words))
    return fig
