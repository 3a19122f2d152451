"""Figures of the benchmarks: maps over their images, ground truth and the pointing-game point.

matplotlib is imported when a figure is drawn; Pillow, when installed, shrinks the PNG.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from glas_core import metrics as M
from glas_core.normalize import minmax_normalize

from .timing import MethodRun


def overlay_map(ax: Any, image: np.ndarray, saliency: np.ndarray, *, point_colour: str = "white",
                point_size: float = 6) -> None:
    """The (3, H, W) image, its min-max normalised map on top, and the pointing-game point (paper rule)."""
    ax.imshow(np.asarray(image).transpose(1, 2, 0))
    ax.imshow(minmax_normalize(saliency), cmap="jet", alpha=0.5)
    r, c = M.pointing_point(saliency)
    ax.plot(c, r, marker="x", color=point_colour, ms=point_size, mew=2)


def draw_box(ax: Any, box: Sequence[float], *, lw: float = 0.8) -> None:
    """A green box (x_min, y_min, x_max, y_max), half-open in pixels."""
    import matplotlib.pyplot as plt

    x0, y0, x1, y1 = box
    ax.add_patch(plt.Rectangle((x0 - 0.5, y0 - 0.5), x1 - x0, y1 - y0, fill=False, ec="lime", lw=lw))


def save_figure(fig: Any, path: Path) -> None:
    """Save at 110 dpi, close, and shrink the PNG."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    shrink_png(path)


def save_panel(path: Path, images: list[np.ndarray], runs: dict[str, MethodRun], boxes: list, *,
               part_masks: list[np.ndarray] | None = None, max_images: int = 4, title: str = "") -> None:
    """Images (rows) by methods (columns): the map over the image, boxes in green, parts in white,
    the pointing-game point (paper rule) as an x."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(runs)
    n = min(max_images, len(images))
    fig, axes = plt.subplots(n, len(names) + 1, figsize=(1.6 * (len(names) + 1), 1.6 * n), squeeze=False)
    for i in range(n):
        for j, ax in enumerate(axes[i]):
            if j:
                overlay_map(ax, images[i], runs[names[j - 1]].maps[i])
                if i == 0:
                    ax.set_title(names[j - 1], fontsize=6)
            else:
                ax.imshow(np.asarray(images[i]).transpose(1, 2, 0))
            for box in boxes[i]:
                draw_box(ax, box)
            if part_masks is not None:
                ax.contour(part_masks[i], levels=[0.5], colors="white", linewidths=0.6)
            ax.set_xticks([])
            ax.set_yticks([])
    if title:
        fig.suptitle(title, fontsize=8)
    save_figure(fig, path)


def shrink_png(path: Path) -> None:
    """Re-save a figure with a 256-colour palette (a third of the size) when Pillow is installed."""
    try:
        from PIL import Image
    except ImportError:
        return
    with Image.open(path) as im:
        small = im.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT)
    small.save(path, optimize=True)


def save_iterations(path: Path, images: list[np.ndarray], boxes: list, iterations: list[list[np.ndarray]],
                    finals: list[np.ndarray], *, max_images: int = 4, max_iterations: int = 3,
                    title: str = "") -> None:
    """Recursive GLAS image by image (rows): the image, each iteration's normalised map S_i, and the
    final map O with its regions above 0.5 outlined and the centroids of the two largest marked (x):
    the separation rule of :func:`glas_core.metrics.instances_separated`. Boxes in green."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = min(max_images, len(images))
    cols = max_iterations + 2
    fig, axes = plt.subplots(n, cols, figsize=(1.6 * cols, 1.6 * n), squeeze=False)
    for i in range(n):
        row = axes[i]
        row[0].imshow(np.asarray(images[i]).transpose(1, 2, 0))
        for j in range(max_iterations):
            ax = row[1 + j]
            if j < len(iterations[i]):
                ax.imshow(iterations[i][j], cmap="jet", vmin=0.0, vmax=1.0)
            else:
                ax.set_facecolor("0.85")
            if i == 0:
                ax.set_title(f"S_{j + 1}", fontsize=7)
        ax = row[-1]
        o = minmax_normalize(finals[i])
        ax.imshow(np.asarray(images[i]).transpose(1, 2, 0))
        ax.imshow(o, cmap="jet", alpha=0.5)
        ax.contour(o > 0.5, levels=[0.5], colors="white", linewidths=0.6)
        for r, c in M.separated_regions(finals[i]):
            ax.plot(c, r, marker="x", color="white", ms=6, mew=2)
        if i == 0:
            ax.set_title("O (regions > 0.5)", fontsize=7)
            row[0].set_title("image", fontsize=7)
        for ax in row:
            for box in boxes[i]:
                draw_box(ax, box)
            ax.set_xticks([])
            ax.set_yticks([])
    if title:
        fig.suptitle(title, fontsize=8)
    save_figure(fig, path)
