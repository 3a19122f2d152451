"""Boxes: the checks every box a caller or a model gives goes through, and their overlap.

A box is ``(x1, y1, x2, y2)`` in pixels of the image the model was given: the image's left
edge is ``x = 0`` and its right edge ``x = W`` (torchvision's and the HuggingFace processors'
``post_process_object_detection`` convention).
"""

from __future__ import annotations

from typing import Any

import numpy as np

import glas_core
from glas_core.errors import fail

#: how far a box may reach past the image's edge (round-off of a resize) before it is refused
EDGE_TOLERANCE = 0.5


def as_boxes(boxes: Any, name: str) -> np.ndarray:
    """``boxes`` as a finite ``(M, 4)`` float64 array (any framework's array or a nested list)."""
    try:
        arr = np.asarray(glas_core.to_numpy(boxes) if hasattr(boxes, "shape") else boxes, dtype=np.float64)
    except (TypeError, ValueError, glas_core.GLASError):
        arr = None
    if arr is not None and arr.ndim == 1 and arr.size == 4:
        arr = arr[None, :]
    if arr is None or arr.ndim != 2 or arr.shape[1] != 4:
        shown = f"shape {tuple(arr.shape)}" if arr is not None else type(boxes).__name__
        raise fail(name, shown, "boxes of shape (M, 4): x1, y1, x2, y2 in pixels",
                   "pass one row per box, e.g. [[10, 20, 60, 80]]")
    if not np.all(np.isfinite(arr)):
        raise fail(name, "NaN or infinite coordinates", "finite pixel coordinates", "drop or fix those boxes")
    return arr


def check_box_order(boxes: np.ndarray, name: str) -> None:
    """Refuse boxes whose corners are swapped (``x2 < x1`` or ``y2 < y1``): (cx, cy, w, h) read as xyxy."""
    bad = np.flatnonzero((boxes[:, 2] < boxes[:, 0]) | (boxes[:, 3] < boxes[:, 1]))
    if bad.size:
        i = int(bad[0])
        raise fail(name, f"box {i} = {np.round(boxes[i], 3).tolist()} with x2 < x1 or y2 < y1",
                   "x1 <= x2 and y1 <= y2 (corners, xyxy)",
                   "convert (cx, cy, w, h) or (x, y, w, h) boxes to corners: x2 = x1 + w, y2 = y1 + h")


def check_pixel_boxes(boxes: np.ndarray, image_size: tuple[int, int], name: str, *, inside: bool) -> None:
    """Refuse boxes that are normalised to [0, 1] on an image larger than a few pixels, and
    (with ``inside``) boxes that leave the image.

    Parameters
    ----------
    boxes : numpy.ndarray
        ``(M, 4)`` xyxy boxes.
    image_size : (int, int)
        The image's ``(H, W)``.
    name : str
        Who gave them, for the message (``"boxes"``, ``"model output boxes"``).
    inside : bool
        Check that every box lies in the image (a model's own boxes may overhang it a little).
    """
    height, width = image_size
    if boxes.size and max(height, width) > 4 and float(np.max(np.abs(boxes))) <= 1.0:
        raise fail(name, f"coordinates in [0, 1] (e.g. {np.round(boxes[0], 3).tolist()}) for a {height}x{width} "
                   "image", "pixel coordinates of that image",
                   f"multiply normalised boxes by (W, H, W, H) = ({width}, {height}, {width}, {height})")
    if not inside:
        return
    tol = EDGE_TOLERANCE
    out = np.flatnonzero((boxes[:, 0] < -tol) | (boxes[:, 1] < -tol) | (boxes[:, 2] > width + tol)
                         | (boxes[:, 3] > height + tol))
    if out.size:
        i = int(out[0])
        raise fail(name, f"box {i} = {np.round(boxes[i], 3).tolist()} outside the {height}x{width} image",
                   f"0 <= x1 <= x2 <= {width} and 0 <= y1 <= y2 <= {height}",
                   "give boxes in pixels of the image you explain (rescale them if you resized it)")


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection over union of every box of ``a`` ``(T, 4)`` with every box of ``b`` ``(M, 4)``: ``(T, M)``.

    Boxes of zero area overlap nothing (IoU 0), never 0/0.
    """
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 2], b[None, :, 2])
    y2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)
