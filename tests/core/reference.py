"""An independent, deliberately naive NumPy reference of GLAS (explicit loops over pixels and points).

It shares no code with glas_core: grid centres, Gaussians (Eq. 1-2 masks with the factor 2,
Eq. 3 weights without it) and the fusion are written out from the readings in docs/paper-readings.md.
"""

from __future__ import annotations

import itertools
import math

import numpy as np


def reference_grid_points(shape, grid):
    """Grid point j of k along an axis of n pixels sits at (j + 0.5) * n / k - 0.5."""
    per_axis = [[(j + 0.5) * n / k - 0.5 for j in range(k)] for n, k in zip(shape, grid)]
    return [tuple(p) for p in itertools.product(*per_axis)]


def reference_mask(shape, mu, sigma):
    """G(p) = exp(-sum_a (p_a - mu_a)^2 / (2 sigma_a^2)), a loop over every pixel."""
    g = np.zeros(shape)
    for p in np.ndindex(*shape):
        g[p] = math.exp(-sum((p[a] - mu[a]) ** 2 / (2 * sigma[a] ** 2) for a in range(len(shape))))
    return g


def reference_glas(score_one, x, points, sig_light, sig_shadow, sig_spatial, lam=1e-5, mode="fusion", baseline=0.0):
    """GLAS of a channel-first example ``x`` (C, *spatial) with a per-image score ``score_one(img) -> (T,)``."""
    shape = x.shape[1:]
    clean = np.asarray(score_one(x), dtype=np.float64)
    f_l, f_s = [], []
    for mu in points:
        g_light = reference_mask(shape, mu, sig_light)
        g_shadow = reference_mask(shape, mu, sig_shadow)
        f_l.append(np.asarray(score_one(baseline + (x - baseline) * g_light[None])))
        shadowed = np.asarray(score_one(baseline + (x - baseline) * (1.0 - g_shadow)[None]))
        f_s.append(np.abs(clean - shadowed) + lam)
    f_l, f_s = np.array(f_l), np.array(f_s)  # (P, T)
    values = {"fusion": f_l * f_s, "light": f_l, "shadow": f_s}[mode]
    sal = np.zeros((values.shape[1],) + shape)
    for p in np.ndindex(*shape):
        for i, mu in enumerate(points):
            w = math.exp(-sum((p[a] - mu[a]) ** 2 / sig_spatial[a] ** 2 for a in range(len(shape))))
            sal[(slice(None),) + p] += w * values[i]
    return sal / len(points), clean, f_l.T, f_s.T
