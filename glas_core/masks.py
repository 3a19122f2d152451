"""Separable Gaussian light masks G and shadow masks 1 - G, built per chunk.

A mask is the outer product of one 1-D Gaussian per spatial axis, so only the small
``(P, n_a)`` per-axis profiles are kept; full masks exist only for the rows of the chunk
being scored (DESIGN.md section 2).
"""

from __future__ import annotations

from typing import Any, Sequence

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
        ``(P, n)`` profiles with peak 1 at each centre.
    """
    coords = xp.arange(n, dtype=dtype, device=device)
    mu = xp.asarray(np.asarray(centers, dtype=np.float64), dtype=dtype, device=device)
    diff = coords[None, :] - mu[:, None]
    return xp.exp(-(diff * diff) / (denominator * sigma * sigma))


def outer_masks(xp: Any, profiles: Sequence[Any], index: Sequence[Any], start: int, stop: int) -> Any:
    """Gaussian masks G for points ``start:stop``: outer products of their per-axis profiles.

    Parameters
    ----------
    profiles : sequence of arrays
        ``(K_a, n_a)`` distinct 1-D Gaussians per axis.
    index : sequence of integer arrays
        ``(P,)`` per axis: which profile row each point uses.

    Returns
    -------
    array
        ``(stop - start, n_0, ..., n_{m-1})``.
    """
    mask = xp.take(profiles[0], index[0][start:stop], axis=0)
    for a in range(1, len(profiles)):
        prof = xp.take(profiles[a], index[a][start:stop], axis=0)
        new_shape = (prof.shape[0],) + (1,) * a + (prof.shape[1],)
        mask = mask[..., None] * xp.reshape(prof, new_shape)
    return mask


def perturb(xp: Any, x: Any, masks: Any, mask_shape: tuple[int, ...], baseline: Any) -> Any:
    """Apply masks to one example: ``b + (x - b) * M`` (``x * M`` for the paper's b = 0).

    Parameters
    ----------
    x : array
        One example of shape ``S``.
    masks : array
        ``(B, *spatial)`` masks in ``x``'s dtype.
    mask_shape : tuple of int
        ``S`` with every non-spatial axis set to 1, so masks broadcast over channels.
    baseline : array or None
        Broadcastable to ``S``, or None for the zero baseline.
    """
    m = xp.reshape(masks, (masks.shape[0],) + tuple(mask_shape))
    if baseline is None:
        return x[None, ...] * m
    return baseline[None, ...] + (x - baseline)[None, ...] * m
