"""Inline pictures of results in a notebook: ``res`` at the end of a Jupyter cell shows its maps."""

from __future__ import annotations

import importlib.util
import io
from typing import Any

import numpy as np

from .._array_api import to_numpy
from ..normalize import minmax_normalize
from ._figure import DEFAULT_CMAP, PANEL_INCHES, new_figure

#: At most this many targets are drawn inline; the rest are counted in the title.
MAX_PANELS = 8


def maps_png(saliency: Any, titles: list[str] | None = None) -> bytes | None:
    """PNG bytes of ``(T, H, W)`` maps side by side, each min-max normalised, with one colour bar.

    Returns None when matplotlib is missing or the maps are not 2-D, so a notebook falls back to
    the plain text representation.
    """
    if importlib.util.find_spec("matplotlib") is None:
        return None
    maps = np.asarray(to_numpy(saliency), dtype=np.float64)
    if maps.ndim != 3 or maps.shape[0] == 0:
        return None
    n = min(maps.shape[0], MAX_PANELS)
    fig, axes = new_figure(1, n, width=PANEL_INCHES * n + 0.8, aspect=maps.shape[1] / maps.shape[2])
    images = []
    for t in range(n):
        images.append(axes[0, t].imshow(minmax_normalize(maps[t]), cmap=DEFAULT_CMAP, vmin=0.0, vmax=1.0))
        axes[0, t].set_title(titles[t] if titles else f"target {t}", fontsize=9)
    fig.colorbar(images[-1], ax=list(axes[0]), shrink=0.8, label="min-max normalised")
    if maps.shape[0] > n:
        fig.suptitle(f"first {n} of {maps.shape[0]} maps", fontsize=9)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=72)
    return buf.getvalue()
