"""Figures of 3-D explanations: orthogonal slices of a volume and a ranking of atlas regions."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from .._array_api import to_numpy
from ..errors import fail
from ._figure import DEFAULT_ALPHA, DEFAULT_CMAP, new_figure

if TYPE_CHECKING:  # pragma: no cover - typing only
    from matplotlib.figure import Figure


def volume_slices(volume: Any, saliency: Any, *, index: Sequence[int] | None = None,
                  title: str | None = None, alpha: float = DEFAULT_ALPHA, cmap: str = DEFAULT_CMAP
                  ) -> Figure:
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
        index = tuple(int(i) for i in np.unravel_index(int(np.argmax(sal)), sal.shape))
    index = tuple(int(i) for i in index)
    if len(index) != 3 or not all(0 <= i < n for i, n in zip(index, vol.shape)):
        raise fail("index", index, f"three voxel indices inside {vol.shape}", "omit it to use the map's peak")
    low, high = float(vol.min()), float(vol.max())
    vol = (vol - low) / (high - low) if high > low else np.zeros_like(vol)
    d, h, w = index
    views = [("axial", vol[d], sal[d], f"d={d}"), ("coronal", vol[:, h], sal[:, h], f"h={h}"),
             ("sagittal", vol[:, :, w], sal[:, :, w], f"w={w}")]
    fig, axes = new_figure(1, 3)
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
                   title: str | None = None, xlabel: str = "impact") -> Figure:
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
