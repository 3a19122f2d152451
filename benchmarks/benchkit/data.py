"""Synthetic benchmark images with ground truth: object boxes and discriminative-part masks.

Four classes: a striped ellipse or a plain box (the coarse family, a texture over the whole
body), each with a small red or blue head (the part). The two classes of a family differ only
in that part, as fine-grained classes do.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from glas_core import metrics as M

CLASS_NAMES = ("striped ellipse, red head", "striped ellipse, blue head", "plain box, red head", "plain box, blue head")
PART_COLOURS = {"red": (0.95, 0.1, 0.1), "blue": (0.1, 0.25, 0.95)}


@dataclass(frozen=True)
class Sample:
    """One synthetic image (3, H, W) in [0, 1] with its ground truth."""

    image: np.ndarray
    label: int
    boxes: tuple[tuple[int, int, int, int], ...]  # (x_min, y_min, x_max, y_max), half-open
    object_mask: np.ndarray  # union of bodies and parts
    part_mask: np.ndarray  # union of the discriminative parts


def _background(rng: np.random.Generator, size: int) -> np.ndarray:
    """Smooth coloured noise plus muted clutter (lines and discs, no boxes, no saturated colours)."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    base = rng.uniform(0.25, 0.65, 3).astype(np.float32)
    coarse = rng.normal(0, 0.08, (3, 5, 5)).astype(np.float32)
    idx = np.linspace(0, 4, size)
    i0 = np.floor(idx).astype(int)
    i1 = np.minimum(i0 + 1, 4)
    f = (idx - i0).astype(np.float32)
    rows = coarse[:, i0] * (1 - f)[None, :, None] + coarse[:, i1] * f[None, :, None]
    smooth = rows[:, :, i0] * (1 - f) + rows[:, :, i1] * f
    img = base[:, None, None] + smooth + rng.normal(0, 0.04, (3, size, size)).astype(np.float32)
    for _ in range(rng.integers(5, 10)):
        grey = rng.uniform(0.15, 0.85)
        colour = (0.6 * grey + 0.4 * rng.uniform(0.1, 0.9, 3)).astype(np.float32)
        if rng.random() < 0.5:  # disc
            cy, cx, r = rng.uniform(0, size, 2).tolist() + [rng.uniform(2, size / 8)]
            m = (yy - cy) ** 2 + (xx - cx) ** 2 <= r**2
        else:  # thick line segment
            p0, p1 = rng.uniform(0, size, 2), rng.uniform(0, size, 2)
            d = p1 - p0
            t = np.clip(((yy - p0[0]) * d[0] + (xx - p0[1]) * d[1]) / max(d @ d, 1e-6), 0, 1)
            m = (yy - p0[0] - t * d[0]) ** 2 + (xx - p0[1] - t * d[1]) ** 2 <= rng.uniform(0.6, 1.8) ** 2
        img[:, m] = colour[:, None]
    return img


def _draw_object(img: np.ndarray, rng: np.random.Generator, label: int, size: int, length: float,
                 centre: np.ndarray, occupied: np.ndarray
                 ) -> tuple[tuple[int, int, int, int], np.ndarray, np.ndarray] | None:
    """Draw one object of ``label`` and return (box, body|part mask, part mask) or None if it overlaps."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    height = length * rng.uniform(0.45, 0.65)
    cy, cx = centre
    if label in (0, 1):  # ellipse body
        body = ((yy - cy) / (height / 2)) ** 2 + ((xx - cx) / (length / 2)) ** 2 <= 1.0
    else:  # axis-aligned box body
        body = (np.abs(yy - cy) <= height / 2) & (np.abs(xx - cx) <= length / 2)
    facing = 1 if rng.random() < 0.5 else -1
    r = max(2.5, 0.14 * length)
    py = cy - height * rng.uniform(0.1, 0.3)
    px = cx + facing * (length / 2 - 0.3 * r)
    part = (yy - py) ** 2 + (xx - px) ** 2 <= r**2
    obj = body | part
    if (obj & occupied).any():
        return None
    body_colour = rng.uniform(0.1, 0.9, 3) * np.array([0.6, 1.0, 0.5]) + np.array([0.2, 0.0, 0.1])
    img[:, body] = body_colour.astype(np.float32)[:, None]
    if label in (0, 1):  # striped body: the coarse family is a texture over the whole body
        stripes = body & (((yy - cy) // 2) % 2 == 0)
        img[:, stripes] = (0.35 * body_colour).astype(np.float32)[:, None]
    colour = np.array(PART_COLOURS["red" if label in (0, 2) else "blue"]) + rng.normal(0, 0.04, 3)
    img[:, part] = np.clip(colour, 0, 1).astype(np.float32)[:, None]
    ys, xs = np.nonzero(obj)
    box = (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)
    return box, obj, part


def make_sample(rng: np.random.Generator, label: int, *, size: int = 64, n_instances: int = 1) -> Sample:
    """One image of class ``label`` with ``n_instances`` objects on a cluttered background.

    Classes 0/1 (striped ellipse bodies) and 2/3 (plain box bodies) differ only in the colour
    of a small head (the part): red vs blue, as fine-grained classes do. Lengths span 0.22 to
    0.85 of the image side for single objects, so some boxes are small (< 1/4 of the image)
    and some large.
    """
    img = _background(rng, size)
    occupied = np.zeros((size, size), bool)
    boxes, parts = [], np.zeros((size, size), bool)
    hi = 0.85 if n_instances == 1 else 0.42
    while len(boxes) < n_instances:
        length = rng.uniform(0.22, hi) * size
        margin = length / 2 + 2
        centre = rng.uniform(margin, size - margin, 2) if margin < size / 2 else np.full(2, size / 2)
        drawn = _draw_object(img, rng, label, size, length, centre, occupied)
        if drawn is None:
            continue
        box, obj, part = drawn
        boxes.append(box)
        occupied |= obj
        parts |= part
    return Sample(np.clip(img, 0, 1).astype(np.float32), label, tuple(boxes), occupied, parts)


def make_dataset(n: int, seed: int, *, size: int = 64, n_instances: int = 1) -> list[Sample]:
    """``n`` samples with balanced labels, reproducible from ``seed``."""
    rng = np.random.default_rng(seed)
    return [make_sample(rng, i % len(CLASS_NAMES), size=size, n_instances=n_instances) for i in range(n)]


def box_union(sample: Sample) -> np.ndarray:
    """Boolean (H, W) mask of the union of the sample's object boxes (the localisation ground truth)."""
    return np.any([M.box_to_mask(b, sample.part_mask.shape) for b in sample.boxes], axis=0)
