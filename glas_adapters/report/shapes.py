"""What a detector or a segmenter found, for the page to draw: each target's box or region outline.

A detection's box is kept as its corners in pixels of the map's image (``frame``: the map's
``(height, width)``); a region's outline is an SVG path along its pixels' edges on the
segmenter's output grid (``grid``), from :func:`glas_core.viz.objects.region_outline`, the
outline the PNG figures draw. The page stretches both over the photo, as it stretches the maps.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from glas_core.viz.objects import region_outline

from .manifest import ImageRecord


def outline_path(mask: np.ndarray) -> str:
    """The SVG path data of a region's outline, one ``M x y H x`` or ``M x y V y`` per straight segment,
    in grid units (``x`` from 0 to the grid's width, ``y`` from 0 to its height)."""
    parts = []
    for (x0, y0), (x1, y1) in region_outline(mask):
        parts.append(f"M{x0:g} {y0:g}H{x1:g}" if y0 == y1 else f"M{x0:g} {y0:g}V{y1:g}")
    return "".join(parts)


def add_shapes(entry: dict[str, Any], record: ImageRecord, masks: list[np.ndarray | None]) -> None:
    """Add each target's ``box`` and ``frame``, or ``outline``, ``grid`` and ``pixels``, to an image's
    page entry, and its ``kind``: ``"detections"``, ``"regions"`` or None (a classifier's classes).

    Parameters
    ----------
    entry : dict
        The image's entry, whose ``maps`` are in the order of ``record.rows``.
    record : ImageRecord
        The image's manifest rows.
    masks : list
        :func:`~glas_adapters.report.manifest.load_masks` of the record.
    """
    kinds = set()
    for row, mapped, mask in zip(record.rows, entry["maps"], masks):
        target = entry["targets"][mapped["t"]]
        if row.box is not None and "box" not in target:
            target.update(box=list(row.box), frame=list(row.shape))
            kinds.add("detections")
        if mask is not None and "outline" not in target:
            pixels = row.region_pixels if row.region_pixels is not None else int(mask.sum())
            target.update(outline=outline_path(mask), grid=list(mask.shape), pixels=pixels)
            kinds.add("regions")
    entry["kind"] = kinds.pop() if len(kinds) == 1 else None
