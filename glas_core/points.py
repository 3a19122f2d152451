"""Search points: regular grids over 1, 2 or 3 spatial axes, or custom point sets.

Coordinates are pixel indices: pixel ``i`` sits at ``i``; grid point ``j`` of ``k``
along an axis of ``n`` pixels sits at the centre of its cell, ``(j + 0.5) * n / k - 0.5``
(docs/paper-readings.md, "coordinates"; the paper's "centers of k x k grids", Section 3).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np


def grid_axis_centers(n: int, k: int) -> np.ndarray:
    """Centres of ``k`` equal cells along an axis of ``n`` pixels, in pixel coordinates."""
    return (np.arange(k, dtype=np.float64) + 0.5) * (n / k) - 0.5


def grid_points(spatial_shape: Sequence[int], grid: Sequence[int]) -> np.ndarray:
    """All points of a regular grid, C order (the last axis varies fastest).

    Parameters
    ----------
    spatial_shape : sequence of int
        Size along each spatial axis, e.g. ``(T,)``, ``(H, W)`` or ``(D, H, W)``.
    grid : sequence of int
        Number of cells along each spatial axis, e.g. ``(15,)``, ``(15, 15)`` or ``(8, 14, 14)``.

    Returns
    -------
    numpy.ndarray
        ``(prod(grid), len(grid))`` float64 pixel coordinates.
    """
    axes = [grid_axis_centers(n, k) for n, k in zip(spatial_shape, grid)]
    return np.array(list(itertools.product(*axes)), dtype=np.float64).reshape(-1, len(axes))
