"""Eq. 3: the Gaussian-mixture fusion of per-point scores into a saliency map.

``S(x) = 1/|Omega| sum_i exp(-D(x, mu_i) / sigma_spatial^2) v_i`` with ``v = f_l * f_s``
(or ``f_l``, ``f_s`` for the ablation modes). The weight is separable over spatial axes,
so a grid fuses as ``Gy^T @ V @ Gx`` (``V @ Gt`` for a signal, one more contraction for a volume
or video) and arbitrary points as one matrix product, never as a loop over pixels.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from .masks import gaussian_profiles

if TYPE_CHECKING:
    from .config import SearchPlan


def fusion_kernel(xp: Any, centers: np.ndarray, n: int, sigma: float, *, dtype: Any, device: Any) -> Any:
    """Eq. 3's spatial weight along one axis: ``exp(-(i - mu)^2 / sigma_spatial^2)``.

    Printed without the factor 2 of a Gaussian density (see docs/paper-readings.md); the
    weight of a point at a pixel is the product of these per-axis factors.

    Returns
    -------
    array
        ``(len(centers), n)`` weights.
    """
    return gaussian_profiles(xp, centers, n, sigma, denominator=1.0, dtype=dtype, device=device)


def fuse(xp: Any, weight: Any, plan: SearchPlan, *, dtype: Any, device: Any) -> Any:
    """Eq. 3: ``S(x) = 1/|Omega| sum_i exp(-D(x, mu_i) / sigma_spatial^2) v_i`` for T targets.

    Parameters
    ----------
    weight : array
        ``(T, P)`` per-point values ``v_i`` (:func:`glas_core.scores.fusion_weight`).
    plan : SearchPlan
        Search points, their per-axis centres and the spatial scale in pixels.

    Returns
    -------
    array
        ``(T, *spatial)`` maps.
    """
    sig_spatial = plan.sigma_px[2]
    kernels = [fusion_kernel(xp, plan.axis_centers[a], plan.spatial_shape[a], sig_spatial[a], dtype=dtype,
                             device=device) for a in range(len(plan.spatial_shape))]
    if plan.grid is not None:
        return fuse_grid(xp, weight, plan.grid, kernels)
    return fuse_points(xp, weight, kernels)


def fuse_grid(xp: Any, values: Any, grid: Sequence[int], weights: Sequence[Any]) -> Any:
    """Fuse scores of a regular grid with one weight matrix per axis.

    Parameters
    ----------
    values : array
        ``(T, P)`` scores, points in C order of ``grid``.
    grid : sequence of int
        Points per axis ``(k_0, ..., k_{m-1})``.
    weights : sequence of arrays
        ``(k_a, n_a)`` spatial weights ``exp(-(i - mu)^2 / sigma_a^2)`` per axis.

    Returns
    -------
    array
        ``(T, n_0, ..., n_{m-1})``.
    """
    n_points = values.shape[1]
    fused = xp.reshape(values, (values.shape[0],) + tuple(grid))
    for w in weights:
        # contracting axis 1 each time moves the finished pixel axis to the end
        fused = xp.tensordot(fused, w, axes=([1], [0]))
    return fused / n_points


def fuse_points(xp: Any, values: Any, weights: Sequence[Any]) -> Any:
    """Fuse scores of arbitrary points (e.g. atlas centroids).

    Parameters
    ----------
    values : array
        ``(T, P)`` scores.
    weights : sequence of arrays
        ``(P, n_a)`` spatial weights of each point per axis.

    Returns
    -------
    array
        ``(T, n_0, ..., n_{m-1})``.
    """
    n_targets, n_points = values.shape
    if len(weights) == 1:  # a signal: one matrix product
        return xp.matmul(values, weights[0]) / n_points
    first = xp.permute_dims(weights[0], (1, 0))  # (n_0, P)
    rest = weights[1]
    for w in weights[2:]:
        rest = xp.reshape(rest[:, :, None] * w[:, None, :], (n_points, -1))
    weighted = first[None, :, :] * values[:, None, :]  # (T, n_0, P)
    fused = xp.matmul(weighted, rest)  # (T, n_0, prod(n_1..))
    shape = (n_targets, weights[0].shape[1]) + tuple(w.shape[1] for w in weights[1:])
    return xp.reshape(fused, shape) / n_points
