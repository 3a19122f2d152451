"""Synthetic detection and segmentation scenes whose class evidence is known to the pixel.

Every object is the same dark grey square (side 14 to 20 pixels at 64 px); its class is only
the colour of a small marker dot (radius 2.5 px) placed at a random spot inside it: red,
green or blue. A detector or segmenter can tell the class only from the marker, so a map that
explains the class of a detection should peak on (or near) that detection's own marker, and
a map that explains *which* object it is should stay off the other objects. Two kinds of
scenes: 1 to 3 objects of random classes, and two objects of the same class (the case where an
explanation must say which of two identical-looking detections it explains).

Backgrounds are smooth coloured noise with a few muted grey discs (clutter that is neither dark
nor saturated). NumPy only, reproducible from a seed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CLASS_NAMES = ("red marker", "green marker", "blue marker")
MARKER_COLOURS = np.array([(0.95, 0.1, 0.1), (0.1, 0.85, 0.15), (0.1, 0.25, 0.95)], dtype=np.float32)
MARKER_RADIUS = 2.5


@dataclass(frozen=True)
class Scene:
    """One (3, H, W) image in [0, 1] with its ground truth.

    Attributes
    ----------
    image : float32 (3, H, W)
    boxes : int64 (n, 4)
        ``(x_min, y_min, x_max, y_max)``, half-open pixel edges (as ``glas_core.metrics.box_to_mask``).
    labels : int64 (n,)
        Classes ``0 .. len(CLASS_NAMES) - 1``.
    object_masks, marker_masks : bool (n, H, W)
        Each object's pixels (body and marker) and its marker alone.
    segmentation : int64 (H, W)
        0 for the background, ``label + 1`` on an object's pixels.
    """

    image: np.ndarray
    boxes: np.ndarray
    labels: np.ndarray
    object_masks: np.ndarray
    marker_masks: np.ndarray
    segmentation: np.ndarray


def _background(rng: np.random.Generator, size: int) -> np.ndarray:
    """Smooth coloured noise, pixel noise and 2 to 5 muted mid-grey discs."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    base = rng.uniform(0.45, 0.7, 3).astype(np.float32)
    coarse = rng.normal(0, 0.07, (3, 4, 4)).astype(np.float32)
    idx = np.linspace(0, 3, size)
    i0 = np.floor(idx).astype(int)
    i1 = np.minimum(i0 + 1, 3)
    f = (idx - i0).astype(np.float32)
    rows = coarse[:, i0] * (1 - f)[None, :, None] + coarse[:, i1] * f[None, :, None]
    smooth = rows[:, :, i0] * (1 - f) + rows[:, :, i1] * f
    img = base[:, None, None] + smooth + rng.normal(0, 0.03, (3, size, size)).astype(np.float32)
    for _ in range(int(rng.integers(2, 6))):
        cy, cx = rng.uniform(0, size, 2)
        r = rng.uniform(2.0, size / 10)
        grey = rng.uniform(0.4, 0.8)
        img[:, (yy - cy) ** 2 + (xx - cx) ** 2 <= r**2] = grey
    return img


def make_scene(rng: np.random.Generator, labels: list[int], *, size: int = 64) -> Scene:
    """A scene with one object per entry of ``labels`` (placed without overlap, 2 px apart)."""
    img = _background(rng, size)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    occupied = np.zeros((size, size), bool)
    lo, hi = round(size * 14 / 64), round(size * 20 / 64)
    boxes, objects, markers = [], [], []
    for label in labels:
        for _ in range(1000):
            side = int(rng.integers(lo, hi + 1))
            x0, y0 = (int(v) for v in rng.integers(0, size - side + 1, 2))
            box = (x0, y0, x0 + side, y0 + side)
            pad = occupied[max(y0 - 2, 0) : y0 + side + 2, max(x0 - 2, 0) : x0 + side + 2]
            if not pad.any():
                break
        else:  # pragma: no cover - 3 objects of at most 20 px always fit on 64 px
            raise RuntimeError("could not place an object")
        obj = np.zeros((size, size), bool)
        obj[y0 : y0 + side, x0 : x0 + side] = True
        img[:, obj] = rng.uniform(0.08, 0.22)
        margin = MARKER_RADIUS + 1.0
        my = rng.uniform(y0 + margin, y0 + side - 1 - margin)
        mx = rng.uniform(x0 + margin, x0 + side - 1 - margin)
        marker = ((yy - my) ** 2 + (xx - mx) ** 2 <= MARKER_RADIUS**2) & obj
        colour = np.clip(MARKER_COLOURS[label] + rng.normal(0, 0.04, 3), 0, 1).astype(np.float32)
        img[:, marker] = colour[:, None]
        occupied |= obj
        boxes.append(box)
        objects.append(obj)
        markers.append(marker)
    seg = np.zeros((size, size), np.int64)
    for obj, label in zip(objects, labels):
        seg[obj] = label + 1
    return Scene(np.clip(img, 0, 1).astype(np.float32), np.array(boxes, np.int64).reshape(-1, 4),
                 np.array(labels, np.int64), np.array(objects).reshape(-1, size, size),
                 np.array(markers).reshape(-1, size, size), seg)


def make_scenes(n: int, seed: int, *, size: int = 64, kind: str = "mixed") -> list[Scene]:
    """``n`` scenes reproducible from ``seed``.

    ``kind="mixed"``: 1 to 3 objects of independent random classes. ``kind="pair"``: two
    objects of one class (classes in turn).
    """
    if kind not in ("mixed", "pair"):
        raise ValueError(f"kind must be 'mixed' or 'pair', got {kind!r}")
    rng = np.random.default_rng(seed)
    n_classes = len(CLASS_NAMES)
    scenes = []
    for i in range(n):
        if kind == "pair":
            labels = [i % n_classes] * 2
        else:
            labels = [int(c) for c in rng.integers(0, n_classes, int(rng.integers(1, 4)))]
        scenes.append(make_scene(rng, labels, size=size))
    return scenes
