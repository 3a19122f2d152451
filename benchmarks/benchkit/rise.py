"""RISE (Petsiuk, Das and Saenko, BMVC 2018), written for the benchmarks.

Masks: N binary grids of s x s cells, each cell kept with probability p, upsampled bilinearly
to (s + 1) * cell pixels and cropped at a random shift in [0, cell) per axis (Section 3.2 of
the paper). Saliency: ``S = sum_i P(y | I * M_i) * M_i / (N * p)`` (Eq. 6, Monte Carlo
estimate of E[f(I * M) | M(x) = 1]).

Framework-free: ``score_fn`` maps a batch ``(B, *x.shape)`` (torch or numpy, like ``x``) to
``(B, T)`` scores, as for ``glas_core.explain``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

import glas_core


def bilinear_matrix(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in) matrix of bilinear interpolation with half-pixel centres and clamped edges."""
    src = (np.arange(n_out) + 0.5) * n_in / n_out - 0.5
    src = np.clip(src, 0.0, n_in - 1)
    lo = np.floor(src).astype(int)
    hi = np.minimum(lo + 1, n_in - 1)
    frac = src - lo
    m = np.zeros((n_out, n_in))
    m[np.arange(n_out), lo] += 1.0 - frac
    m[np.arange(n_out), hi] += frac
    return m


class RiseMasks:
    """The N random masks of RISE, drawn once from ``seed`` and upsampled chunk by chunk.

    The grids and shifts are drawn up front (N * s * s booleans), so the masks do not depend
    on the chunk size and memory stays bounded by it.
    """

    def __init__(self, n_masks: int, image_shape: tuple[int, int], *, s: int = 8, p: float = 0.5,
                 seed: int = 0) -> None:
        if n_masks < 1 or s < 1 or not 0 < p <= 1:
            raise ValueError(f"need n_masks >= 1, s >= 1 and 0 < p <= 1, got {n_masks}, {s}, {p}")
        self.n_masks, self.s, self.p = n_masks, s, p
        self.h, self.w = image_shape
        rng = np.random.default_rng(seed)
        self.cell = (int(np.ceil(self.h / s)), int(np.ceil(self.w / s)))
        self.grids = rng.random((n_masks, s, s)) < p
        self.shifts = np.stack([rng.integers(0, self.cell[0], n_masks),
                                rng.integers(0, self.cell[1], n_masks)], axis=1)
        up = ((s + 1) * self.cell[0], (s + 1) * self.cell[1])
        self._ay = bilinear_matrix(s, up[0]).astype(np.float32)
        self._ax = bilinear_matrix(s, up[1]).astype(np.float32)

    def chunks(self, batch_size: int) -> Iterator[np.ndarray]:
        """Yield float32 masks ``(b, H, W)`` in [0, 1], ``batch_size`` at a time."""
        for lo in range(0, self.n_masks, batch_size):
            g = self.grids[lo : lo + batch_size].astype(np.float32)
            # two matmuls, not einsum("ys,bst,xt->byx"): NumPy evaluates a three-operand einsum
            # as one unoptimised loop, about 100x slower here (a second per image at N = 4000)
            up = self._ay @ g @ self._ax.T
            out = np.empty((g.shape[0], self.h, self.w), np.float32)
            for i, (dy, dx) in enumerate(self.shifts[lo : lo + batch_size]):
                out[i] = up[i, dy : dy + self.h, dx : dx + self.w]
            yield out


def rise(score_fn: Callable[[Any], Any], x: Any, *, n_masks: int = 4000, s: int = 8,
         p: float = 0.5, batch_size: int = 64, seed: int = 0) -> np.ndarray:
    """RISE saliency of a (C, H, W) example for every target of ``score_fn``: numpy (T, H, W).

    Parameters
    ----------
    score_fn : callable ``(B, C, H, W) -> (B, T)`` scores, in x's array type.
    x : array (C, H, W), numpy or torch.
    n_masks, s, p : N, the cell count per side and the keep probability (paper: 4000, 7-8, 0.5).
    """
    h, w = x.shape[-2], x.shape[-1]
    masks = RiseMasks(n_masks, (h, w), s=s, p=p, seed=seed)
    total = None
    is_numpy = isinstance(x, np.ndarray)
    for chunk in masks.chunks(batch_size):
        if is_numpy:
            m = chunk[:, None]
        else:  # torch: build the perturbed batch on x's device and dtype
            import torch

            m = torch.from_numpy(chunk[:, None]).to(device=x.device, dtype=x.dtype)
        scores = glas_core.to_numpy(score_fn(x[None] * m)).astype(np.float64)
        if scores.ndim == 1:
            scores = scores[:, None]
        part = scores.T @ chunk.reshape(chunk.shape[0], -1).astype(np.float64)  # sum_i f_i M_i, (T, H*W)
        total = part if total is None else total + part
    return (total / (n_masks * p)).reshape(-1, h, w)
