"""GLAS map variants computed from one recorded sweep: prototypes for the faithfulness study.

A GLAS sweep scores the clean image, one light row per search point and one shadow row per
point (``glas_core.config.RowLayout``). :func:`record_sweep` runs the sweep as users run it
(``glas_adapters.torch.explain``: log-probability scores) and keeps every row's logits, so each
variant below is a different reading of the same forward passes: other point values (log
weights, logit margins) or another Eq. 3 fusion (a smaller spatial scale, a kernel-normalised
sum). Only :func:`paper` is the paper's GLAS (Eq. 3 up to one positive factor);
the rest are experiments, not library options.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

import glas_core
from glas_core.fusion import fuse_grid, fusion_kernel


@dataclass(frozen=True)
class Sweep:
    """One fusion-mode sweep: the core's result and the ``(2P + 1, K)`` float64 logits of its rows."""

    result: glas_core.GLASResult
    logits: np.ndarray
    target: int

    @property
    def n_points(self) -> int:
        return int(self.result.points.shape[0])

    def rows(self, which: str) -> np.ndarray:
        """Logits of the ``"clean"`` row ``(1, K)``, or of the ``"light"`` / ``"shadow"`` rows ``(P, K)``."""
        p = self.n_points
        return {"clean": self.logits[:1], "light": self.logits[1 : p + 1], "shadow": self.logits[p + 1 :]}[which]


def record_sweep(module: Any, x: Any, target: int, **settings: Any) -> Sweep:
    """Run GLAS (fusion mode) on one (C, H, W) image as users do (:func:`benchkit.methods.glas_result`,
    the torch adapter), keeping the logits of every row it scores."""
    import torch

    from .methods import glas_result

    class Recorder(torch.nn.Module):
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner
            self.chunks: list[np.ndarray] = []

        def forward(self, batch):
            z = self.inner(batch)
            self.chunks.append(z.detach().double().cpu().numpy())
            return z

    recorder = Recorder(module).eval()
    result = glas_result(recorder, x, target, **settings)
    logits = np.concatenate(recorder.chunks)
    if result.mode != "fusion" or result.grid is None or logits.shape[0] != 2 * result.points.shape[0] + 1:
        raise ValueError("variants need a fusion-mode grid sweep with its clean row, each row scored once")
    return Sweep(result, logits, target)


# ----------------------------------------------------------------------------- point values
def log_p(logits: np.ndarray, target: int) -> np.ndarray:
    """``log P(target)`` per row, ``-log(1 + sum_{k != y} exp(z_k - z_y))`` computed stably (NumPy)."""
    others = np.delete(logits, target, axis=1)
    return -np.logaddexp(0.0, np.logaddexp.reduce(others - logits[:, target : target + 1], axis=1))


def margin(logits: np.ndarray, target: int) -> np.ndarray:
    """Logit margin per row: ``z_y - max_{k != y} z_k`` (it does not saturate as probabilities do)."""
    return logits[:, target] - np.delete(logits, target, axis=1).max(axis=1)


def log_shadow(sweep: Sweep, lam: float) -> np.ndarray:
    """``log(|P(y|I) - P(y|I * (1 - G))| + lambda)`` per point, as the core computes Eq. 2 in logs."""
    a = log_p(sweep.rows("clean"), sweep.target)[0]
    b = log_p(sweep.rows("shadow"), sweep.target)
    hi, gap = np.maximum(a, b), np.abs(a - b)
    with np.errstate(divide="ignore"):
        log_gap = np.where(gap > 0, hi + np.log(-np.expm1(-np.where(gap > 0, gap, 1.0))), -np.inf)
    return np.logaddexp(log_gap, np.log(lam))


def log_weight(sweep: Sweep) -> np.ndarray:
    """Eq. 3's ``log(f_l f_s)`` per point."""
    return log_p(sweep.rows("light"), sweep.target) + log_shadow(sweep, sweep.result.config.lam)


def scaled(log_values: np.ndarray) -> np.ndarray:
    """``exp(v - max v)``: values from their logs, the largest 1."""
    return np.exp(log_values - log_values.max())


# ----------------------------------------------------------------------------- fusion
def fuse(sweep: Sweep, values: np.ndarray, *, spatial_cells: float | None = None,
         normalised: bool = False) -> np.ndarray:
    """Eq. 3 of per-point ``values`` over the sweep's grid: ``(H, W)``.

    ``spatial_cells`` replaces sigma_spatial (in grid cells); ``normalised`` divides by the
    kernel's sum at each pixel (``sum_i K_i(x) v_i / sum_i K_i(x)``), which removes the fall-off
    of the plain sum towards the border.
    """
    res = sweep.result
    grid, shape = res.grid, tuple(np.asarray(res.saliency).shape[1:])
    sig = res.sigma_px[2] if spatial_cells is None else tuple(spatial_cells * n / k for n, k in zip(shape, grid))
    centres = [np.unique(res.points[:, a]) for a in range(len(grid))]
    kernels = [fusion_kernel(np, centres[a], shape[a], sig[a], dtype=np.float64, device="cpu")
               for a in range(len(grid))]
    fused = fuse_grid(np, np.asarray(values, dtype=np.float64)[None], grid, kernels)[0]
    if normalised:
        fused = fused / fuse_grid(np, np.ones((1, len(values))), grid, kernels)[0]
    return fused


# ----------------------------------------------------------------------------- the variants
def paper(sweep: Sweep) -> np.ndarray:
    """The library's map: Eq. 3 from log-probabilities (the paper's map up to one factor)."""
    return np.asarray(sweep.result.to_numpy()[0], dtype=np.float64)


def light_only(sweep: Sweep) -> np.ndarray:
    return fuse(sweep, scaled(log_p(sweep.rows("light"), sweep.target)))


def shadow_only(sweep: Sweep) -> np.ndarray:
    return fuse(sweep, scaled(log_shadow(sweep, sweep.result.config.lam)))


def log_weight_fusion(sweep: Sweep) -> np.ndarray:
    """Fuse ``log(f_l f_s) - min`` instead of ``f_l f_s``: every point keeps a say, not only the best."""
    w = log_weight(sweep)
    return fuse(sweep, w - w.min())


def small_spatial(cells: float) -> Callable[[Sweep], np.ndarray]:
    """The paper's point weights fused with sigma_spatial = ``cells`` grid cells (default 6)."""
    def variant(sweep: Sweep) -> np.ndarray:
        return fuse(sweep, scaled(log_weight(sweep)), spatial_cells=cells)

    return variant


def kernel_normalised(sweep: Sweep) -> np.ndarray:
    return fuse(sweep, scaled(log_weight(sweep)), normalised=True)


def margin_drop(sweep: Sweep, spatial_cells: float | None = None) -> np.ndarray:
    """Shadow term on logit margins, signed: ``max(m(I) - m(I * (1 - G)), 0)`` (what hiding the region costs)."""
    m0 = margin(sweep.rows("clean"), sweep.target)[0]
    drop = np.maximum(m0 - margin(sweep.rows("shadow"), sweep.target), 0.0)
    return fuse(sweep, drop, spatial_cells=spatial_cells)


def margin_fusion(sweep: Sweep) -> np.ndarray:
    """Eq. 3 with logit margins for log-probabilities: ``exp(m_light - max) * |m(I) - m(I * (1 - G))|``."""
    m0 = margin(sweep.rows("clean"), sweep.target)[0]
    light = scaled(margin(sweep.rows("light"), sweep.target))
    return fuse(sweep, light * np.abs(m0 - margin(sweep.rows("shadow"), sweep.target)))


def minmax(a: np.ndarray) -> np.ndarray:
    span = float(a.max() - a.min())
    return (a - a.min()) / span if span > 0 else np.zeros_like(a)


def multiscale_product(coarse: Sweep, fine: Sweep) -> np.ndarray:
    """The product of the min-max normalised coarse and fine maps (two sweeps)."""
    return minmax(paper(coarse)) * minmax(paper(fine))


#: name -> (variant of one sweep, what it is); the multi-scale product is added by the benchmark
VARIANTS: dict[str, tuple[Callable[[Sweep], np.ndarray], str]] = {
    "GLAS (paper Eq. 3)": (paper, "the library's map, log-domain Eq. 1-3"),
    "light only": (light_only, "f_l fused"),
    "shadow only": (shadow_only, "f_s fused"),
    "log-weight fusion": (log_weight_fusion, "log(f_l f_s) - min fused"),
    "sigma_spatial=3": (small_spatial(3.0), "paper weights, sigma_spatial 3 cells (not 6)"),
    "sigma_spatial=1": (small_spatial(1.0), "paper weights, sigma_spatial 1 cell"),
    "kernel-normalised": (kernel_normalised, "sum K v / sum K"),
    "margin fusion": (margin_fusion, "logit margins for log P in Eq. 1-2"),
    "margin drop": (margin_drop, "max(m(I) - m(I(1-G)), 0) fused"),
    "margin drop, sigma_spatial=1": (lambda s: margin_drop(s, 1.0), "the same, sigma_spatial 1 cell"),
}
