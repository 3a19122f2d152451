"""Recursive GLAS that reuses the scores of points far from anything dimmed: a measurement, not a product.

Algorithm 1 reruns a full sweep (clean row, one light and one shadow row per remaining point)
on every dimmed image. This reference implementation of the same loop (t1, t2, max_iter, the
paper's or the evidence stop rule, log-probability scores as the adapters use) rescores only the
points whose masks overlap what was dimmed since their scores were taken by more than ``tol``;
the overlap of a point's Gaussian mask ``G`` is ``sum(G * |K_then - K_now|) / sum(G)``, with
``K`` the product of the ``1 - S`` factors applied so far. Two variants:

* ``"light"``: a far point keeps its light score ``f_l`` (its light row ``I * G_l`` is nearly
  the same image); every shadow row and the clean row are rescored, since a shadow row
  ``I * (1 - G_s)`` holds the dimmed region itself.
* ``"point"``: a far point keeps its whole Eq. 3 weight ``f_l f_s`` (both rows skipped), although
  its shadow score was taken against the old clean score.

``tol=None`` rescores every point: the loop of :func:`glas_core.explain_recursive`, which the
benchmark checks it reproduces; like it, a later sweep takes its clean score from the score of
the dimmed image the stop rule took. Rows are ``x * M`` (the zero baseline).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from glas_core._array_api import namespace_of
from glas_core.config import RowLayout, SearchPlan
from glas_core.fusion import fuse_points, fusion_kernel
from glas_core.normalize import minmax_normalize
from glas_core.scores import log_fusion_weight, log_shadow_score

LogScoreFn = Callable[[np.ndarray], np.ndarray]  # (B, C, H, W) float32 -> (B,) log P(y | row)


@dataclass
class ReuseRun:
    """Per iteration: the normalised map and its weight; the rows scored and the rows a full sweep needs."""

    maps: list[np.ndarray] = field(default_factory=list)
    weights: list[float] = field(default_factory=list)
    stop_reason: str = ""
    n_forward: int = 0
    n_full: int = 0  # the rows the same iterations cost with every point rescored


def _profiles(centers: np.ndarray, n: int, sigma: float) -> np.ndarray:
    """``(P, n)`` mask profiles ``exp(-(i - mu)^2 / (2 sigma^2))`` in float32 (as the core builds them)."""
    d = np.arange(n, dtype=np.float64)[None, :] - centers[:, None]
    return np.exp(-(d * d) / (2.0 * sigma * sigma)).astype(np.float32)


def _masks(points: np.ndarray, shape: tuple[int, int], sigma: tuple[float, float]) -> np.ndarray:
    """``(P, H, W)`` Gaussian masks G of ``points`` (pixel coordinates)."""
    gy = _profiles(points[:, 0], shape[0], sigma[0])
    gx = _profiles(points[:, 1], shape[1], sigma[1])
    return gy[:, :, None] * gx[:, None, :]


class _Scorer:
    """Scores rows ``batch_size`` at a time and counts them."""

    def __init__(self, log_score_fn: LogScoreFn, batch_size: int) -> None:
        self.fn, self.batch_size, self.rows = log_score_fn, batch_size, 0

    def __call__(self, rows: np.ndarray) -> np.ndarray:
        out = [np.asarray(self.fn(rows[i:i + self.batch_size]), np.float64).reshape(-1)
               for i in range(0, len(rows), self.batch_size)]
        self.rows += len(rows)
        return np.concatenate(out) if out else np.zeros(0)


def recursive_with_reuse(log_score_fn: LogScoreFn, x: np.ndarray, plan: SearchPlan, *, tol: float | None,
                         variant: str = "light", t1: float = 0.8, t2: float = 5.0, max_iter: int = 5,
                         stop: str = "paper", min_evidence: float = 0.1, lam: float = 1e-5,
                         batch_size: int = 64, dim: str = "map",
                         later_sigma_px: tuple[tuple[float, ...], ...] | None = None) -> ReuseRun:
    """Algorithm 1 on one ``(C, H, W)`` image, rescoring only points whose masks saw a change above ``tol``.

    ``plan`` is the first sweep's (grid points and pixel scales, e.g.
    ``GLASConfig(sigma=...).resolve((H, W))``); later sweeps keep its scales, as the core does,
    unless ``later_sigma_px`` gives theirs. ``dim`` is what each iteration dims the image by:
    ``"map"`` (``I * (1 - S)``, Algorithm 1), ``"above_t1"`` (``S`` where ``S > t1``, 0 elsewhere,
    as ``explain_recursive(dim="above_t1")``) or ``"region"`` (1 where ``S > t1``: the region is
    blacked out). ``later_sigma_px`` and ``"region"`` exist only here, to measure them.
    """
    if variant not in ("light", "point"):
        raise ValueError(f"variant must be 'light' or 'point', got {variant!r}")
    if dim not in ("map", "above_t1", "region"):
        raise ValueError(f"dim must be 'map', 'above_t1' or 'region', got {dim!r}")
    if later_sigma_px is not None and tol is not None:
        raise ValueError("later_sigma_px needs tol=None: kept light scores were taken at the first sweep's scale")
    xp = namespace_of(np.zeros(1))
    shape = (int(x.shape[-2]), int(x.shape[-1]))
    sig_l, sig_s, sig_sp = (tuple(float(v) for v in s) for s in plan.sigma_px)
    score = _Scorer(log_score_fn, batch_size)
    run = ReuseRun()
    image, keep = x.astype(np.float32), np.ones(shape, np.float32)
    points = np.asarray(plan.points, np.float64)
    light_m, shadow_m = _masks(points, shape, sig_l), _masks(points, shape, sig_s)
    keep_at = [keep] * len(points)  # K when each point was last scored
    log_light = np.full(len(points), -np.inf)
    log_v = np.full(len(points), -np.inf)
    first_evidence, total, after_log = None, None, None
    while True:
        change = np.stack([np.abs(k - keep) for k in keep_at])  # (P, H, W), small: k <= 15 x 15 points
        redo_l = (_overlap_each(light_m, change) > tol) if tol is not None and first_evidence is not None \
            else np.ones(len(points), bool)
        redo_s = (_overlap_each(shadow_m, change) > tol) if tol is not None and first_evidence is not None \
            else np.ones(len(points), bool)
        redo_point = redo_l | redo_s
        light_rows = redo_l if variant == "light" else redo_point
        shadow_rows = np.ones(len(points), bool) if variant == "light" else redo_point
        rows_now = [image[None] * light_m[light_rows][:, None], image[None] * (1 - shadow_m[shadow_rows])[:, None]]
        if after_log is None:  # the first sweep scores the clean image
            run.n_full += 1 + 2 * len(points)
            scores = score(np.concatenate([image[None]] + rows_now))
        else:  # later sweeps: the clean image is the dimmed image the stop rule scored (as the core does)
            run.n_full += 2 * len(points)
            scores = np.concatenate([[after_log], score(np.concatenate(rows_now))])
        clean, fresh_light, fresh_shadow = scores[0], scores[1:1 + light_rows.sum()], scores[1 + light_rows.sum():]
        log_light[light_rows] = fresh_light
        rows = RowLayout(int(shadow_rows.sum()), "shadow")
        log_fs = log_shadow_score(xp, np.concatenate([[clean], fresh_shadow])[:, None], rows, lam)[0]
        fresh = log_fusion_weight(log_light[shadow_rows], log_fs, "fusion")
        log_v[shadow_rows] = fresh  # "light": every point; "point": the rescored ones
        for i in np.nonzero(light_rows)[0]:  # a kept light score keeps the image it was taken on
            keep_at[i] = keep
        evidence = float(np.max(log_v))
        kernels = [fusion_kernel(xp, points[:, a], shape[a], sig_sp[a], dtype=np.float64, device=None)
                   for a in range(2)]
        s = np.asarray(minmax_normalize(fuse_points(xp, np.exp(log_v - evidence)[None], kernels)[0]))
        weight = 1.0
        if first_evidence is None:
            first_evidence = evidence
        elif stop == "evidence":
            weight = math.exp(min(evidence - first_evidence, 0.0))
            if not weight >= min_evidence:
                run.stop_reason = "no_evidence"
                break
        total = s if total is None else total + weight * s
        run.maps.append(s)
        run.weights.append(weight)
        idx = np.clip(np.rint(points).astype(np.int64), 0, np.asarray(shape) - 1)
        remove = s[idx[:, 0], idx[:, 1]] > t1
        shade = s if dim == "map" else np.where(s > t1, 1.0 if dim == "region" else s, 0.0)
        image = image * (1 - shade.astype(np.float32))[None]
        keep = keep * (1 - shade.astype(np.float32))
        after_log = float(score(image[None])[0])
        after = math.exp(after_log)
        run.n_full += 1
        criterion = math.sqrt(float(np.mean(s)) / after) if after > 0 else math.inf
        points, light_m, shadow_m = points[~remove], light_m[~remove], shadow_m[~remove]
        if later_sigma_px is not None and len(run.maps) == 1:  # the later sweeps' own scales
            sig_l, sig_s, sig_sp = (tuple(float(v) for v in sg) for sg in later_sigma_px)
            light_m, shadow_m = _masks(points, shape, sig_l), _masks(points, shape, sig_s)
        keep_at = [k for k, r in zip(keep_at, remove) if not r]
        log_light, log_v = log_light[~remove], log_v[~remove]
        reason = ("flat" if not s.max() > 0 else "t2" if criterion >= t2 else "no_points" if len(points) == 0
                  else "max_iter" if len(run.maps) >= max_iter else "")
        if reason:
            run.stop_reason = reason
            break
    run.n_forward = score.rows
    return run


def _overlap_each(masks: np.ndarray, change: np.ndarray) -> np.ndarray:
    """Per point, the share of its mask's mass on pixels changed since that point was scored."""
    return (masks * change).sum(axis=(1, 2)) / masks.sum(axis=(1, 2))
