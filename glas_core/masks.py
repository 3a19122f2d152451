"""Separable Gaussian light masks G and shadow masks 1 - G, built per chunk.

A mask is the outer product of one 1-D Gaussian per spatial axis, so only the small
``(P, n_a)`` per-axis profiles are kept; full masks exist only for the rows of the chunk
being scored, so memory is bounded by the batch size, never by the number of points.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def gaussian_profiles(
    xp: Any,
    centers: np.ndarray,
    n: int,
    sigma: float,
    *,
    denominator: float,
    dtype: Any,
    device: Any,
) -> Any:
    """1-D Gaussians ``exp(-(i - mu)^2 / (denominator * sigma^2))`` over pixels ``i = 0..n-1``.

    They are tiny (``P x n``), so they are computed on the host in float64 and moved to the
    device once per sweep: one transfer instead of a handful of small kernels.

    Parameters
    ----------
    xp : namespace
        Array namespace to build in.
    centers : numpy.ndarray
        ``(P,)`` centres ``mu`` in pixel coordinates.
    n : int
        Number of pixels along the axis.
    sigma : float
        Scale in pixels.
    denominator : float
        2.0 for the masks G (a Gaussian with standard deviation sigma, peak 1; Eq. 1-2),
        1.0 for the spatial weight of Eq. 3 (printed without the factor 2).

    Returns
    -------
    array
        ``(P, n)`` profiles with peak 1 at each centre, in ``dtype`` on ``device``.

    Notes
    -----
    The paper's mask ``G(mu, sigma)`` is a Gaussian with peak 1 (not a density):
    ``G(p) = exp(-sum_a (p_a - mu_a)^2 / (2 sigma_a^2))``, the product of these profiles.
    """
    diff = np.arange(n, dtype=np.float64)[None, :] - np.asarray(centers, dtype=np.float64)[:, None]
    return xp.asarray(np.exp(-(diff * diff) / (denominator * sigma * sigma)), dtype=dtype, device=device)


def shadow_masks(light: Any) -> Any:
    """Eq. 2's shadow mask ``1 - G(mu, sigma_s)`` from light masks ``G``: darkens around ``mu`` only."""
    return 1 - light


def dim_by_map(xp: Any, x: Any, s: Any, spatial_axes: Sequence[int], baseline: Any = None) -> Any:
    """``b + (x - b) * (1 - S)`` for one example: darken what a [0, 1] map ``S`` points at.

    Algorithm 1 (line 9, ``I <- I * (1 - S)``) and the paper's score-drop test (Figure 5) both
    perturb an image this way (``b = 0`` is the paper).

    Parameters
    ----------
    x : array
        One example.
    s : array
        Map of ``x``'s spatial shape with values in [0, 1].
    spatial_axes : sequence of int
        Non-negative, increasing spatial axes of ``x``.
    baseline : array or None
        The baseline as an array of ``x``'s shape (:func:`glas_core._validation.resolve_baseline`),
        or None for the zero baseline.
    """
    mask_shape = tuple(int(x.shape[i]) if i in spatial_axes else 1 for i in range(x.ndim))
    keep = xp.astype(1 - s, x.dtype)[None, ...]
    source = perturbation_source(xp, x, baseline, 1)
    return perturb(xp, source, keep, mask_shape, baseline)[0, ...]


class MaskBank:
    """Builds the Gaussian masks G of any range of search points from per-axis 1-D Gaussians.

    Parameters
    ----------
    xp : namespace
    profiles : sequence of arrays
        Per axis: ``(k_a, n_a)`` distinct 1-D Gaussians of a grid, or ``(P, n_a)`` one row per
        point for custom points.
    grid : tuple of int or None
        Points per axis (C order), or None for custom points.
    """

    def __init__(self, xp: Any, profiles: Sequence[Any], grid: Sequence[int] | None) -> None:
        self.xp = xp
        self.profiles = list(profiles)
        self.grid = None if grid is None else tuple(grid)
        self.spatial = tuple(int(p.shape[1]) for p in profiles)
        self._index = None
        if self.grid is not None and len(self.grid) == 2:
            # laid out once so every chunk needs only plain slices (slicing is slow in some backends)
            (ky, h), (kx, w) = profiles[0].shape, profiles[1].shape
            self._rows = (xp.reshape(profiles[0], (ky, 1, h, 1)), xp.reshape(profiles[0], (ky, h, 1)))
            self._cols = (xp.reshape(profiles[1], (1, kx, 1, w)), xp.reshape(profiles[1], (kx, 1, w)))
        if self.grid is not None and len(self.grid) != 2:
            device = getattr(profiles[0], "device", None)
            idx = np.unravel_index(np.arange(int(np.prod(self.grid))), self.grid)
            self._index = [xp.asarray(np.asarray(i, dtype=np.int64), device=device) for i in idx]

    def masks(self, start: int, stop: int) -> Any:
        """``(stop - start, *spatial)`` masks G of points ``start:stop``."""
        if self.grid is None:
            return self._outer([p[start:stop, :] for p in self.profiles])
        if self._index is None:
            return self._grid_rows(start, stop)
        return self._outer([self.xp.take(p, i[start:stop], axis=0) for p, i in zip(self.profiles, self._index)])

    def _outer(self, rows: Sequence[Any]) -> Any:
        """Outer products of matching rows: ``out[b] = rows[0][b] x rows[1][b] (x rows[2][b])``."""
        mask = rows[0]
        for a in range(1, len(rows)):
            new_shape = (rows[a].shape[0],) + (1,) * a + (rows[a].shape[1],)
            mask = mask[..., None] * self.xp.reshape(rows[a], new_shape)
        return mask

    def _grid_rows(self, start: int, stop: int) -> Any:
        """A 2-D grid without a gather: at most three broadcast products (a partial grid row,
        whole grid rows, a partial grid row), each building exactly the masks asked for."""
        assert self.grid is not None  # masks() calls this for a 2-D grid only
        xp, kx = self.xp, self.grid[1]
        (rows4, rows3), (cols4, cols3) = self._rows, self._cols
        pieces, p = [], start
        while p < stop:
            r, j = divmod(p, kx)
            if j == 0 and stop - p >= kx:
                n_rows = (stop - p) // kx
                block = rows4[r:r + n_rows, ...] * cols4  # (n_rows, kx, H, W)
                pieces.append(xp.reshape(block, (n_rows * kx,) + self.spatial))
                p += n_rows * kx
            else:
                j_stop = min(kx, j + stop - p)
                pieces.append(rows3[r:r + 1, ...] * cols3[j:j_stop, ...])  # (j_stop - j, H, W)
                p += j_stop - j
        return pieces[0] if len(pieces) == 1 else xp.concat(pieces, axis=0)


def perturb(xp: Any, source: Any, masks: Any, mask_shape: tuple[int, ...], baseline: Any) -> Any:
    """Apply masks to one example: ``b + (x - b) * M`` (``x * M`` for the paper's b = 0).

    Parameters
    ----------
    source : array
        ``x - b`` (``x`` for the zero baseline) with a leading batch axis of length 1 or at
        least ``B`` (see :func:`perturbation_source`).
    masks : array
        ``(B, *spatial)`` masks in ``x``'s dtype.
    mask_shape : tuple of int
        The example's shape with every non-spatial axis set to 1, so masks broadcast over channels.
    baseline : array or None
        Broadcastable to the example, or None for the zero baseline.
    """
    m = xp.reshape(masks, (masks.shape[0],) + tuple(mask_shape))
    rows = source if source.shape[0] in (1, masks.shape[0]) else source[:masks.shape[0], ...]
    if baseline is None:
        return rows * m
    return baseline[None, ...] + rows * m


def perturbation_source(xp: Any, x: Any, baseline: Any, rows: int) -> Any:
    """``x - b`` broadcast to ``rows`` rows, built once per sweep.

    The multiply in :func:`perturb` then broadcasts the masks over channels only; backends
    whose broadcasting is a view (NumPy, PyTorch) lose nothing, and TensorFlow, which
    materialises it, runs a one-sided broadcast about twice as fast as a two-sided one.
    """
    diff = x if baseline is None else x - baseline
    return xp.broadcast_to(diff[None, ...], (rows,) + tuple(diff.shape))
