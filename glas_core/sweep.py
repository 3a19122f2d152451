"""The sweep: perturbed rows of one or more examples, streamed through ``score_fn`` in packed chunks.

Every example contributes the rows of its :class:`~glas_core.config.RowLayout`: the clean
input, light rows ``b + (x - b) * G`` (Eq. 1) and shadow rows ``b + (x - b) * (1 - G)``
(Eq. 2). Rows are built only for the chunk being scored, so memory is bounded by
``batch_size``; a chunk may hold the last rows of one example and the first of the next, so a
model sees full batches however many points each example has.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ._array_api import device_of, score_dtype
from ._validation import as_score_array, validate_scores
from .config import SearchPlan
from .masks import MaskBank, gaussian_profiles, perturb, perturbation_source, shadow_masks

ScoreFn = Callable[..., Any]  # score_fn(batch), or score_fn(batch, owners) with with_owners
ProgressFn = Callable[[int, int], None]


class ExampleRows:
    """The perturbed rows of one example's sweep, built on demand.

    Parameters
    ----------
    xp : namespace
    x : array
        The example.
    axes : tuple of int
        Its non-negative, increasing spatial axes.
    plan : SearchPlan
        Points, scales and row layout for its spatial shape.
    baseline : array or None
        The baseline broadcast to ``x``, or None for the zero baseline.
    batch_size : int
        The largest number of rows asked for at once.
    """

    def __init__(self, xp: Any, x: Any, axes: tuple[int, ...], plan: SearchPlan, baseline: Any,
                 batch_size: int) -> None:
        self.xp, self.x, self.plan, self.baseline = xp, x, plan, baseline
        self.device = device_of(x)
        self.mask_shape = tuple(int(x.shape[i]) if i in axes else 1 for i in range(x.ndim))
        rows = plan.rows
        sig_light, sig_shadow, _ = plan.sigma_px
        self.light = self._bank(sig_light) if rows.has_light else None
        self.shadow = self._bank(sig_shadow) if rows.has_shadow else None
        self.source = perturbation_source(xp, x, baseline, min(batch_size, rows.n_rows))

    @property
    def n_rows(self) -> int:
        return self.plan.rows.n_rows

    def _bank(self, sig: tuple[float, ...]) -> MaskBank:
        plan, spatial = self.plan, self.plan.spatial_shape
        profiles = [gaussian_profiles(self.xp, plan.axis_centers[a], spatial[a], sig[a], denominator=2.0,
                                      dtype=self.x.dtype, device=self.device) for a in range(len(spatial))]
        return MaskBank(self.xp, profiles, plan.grid)

    def rows(self, start: int, stop: int) -> Any:
        """Perturbed rows ``start:stop`` of this example's sweep, ``(stop - start, *x.shape)``."""
        xp, spatial = self.xp, self.plan.spatial_shape
        parts = []
        for kind, seg in self.plan.rows.segments():
            lo, hi = max(start, seg.start) - seg.start, min(stop, seg.stop) - seg.start
            if lo < hi:
                if kind == "clean":
                    parts.append(xp.ones((1,) + spatial, dtype=self.x.dtype, device=self.device))
                elif kind == "light":
                    assert self.light is not None  # the layout has light rows only when rows.has_light
                    parts.append(self.light.masks(lo, hi))
                else:
                    assert self.shadow is not None  # likewise shadow rows and rows.has_shadow
                    parts.append(shadow_masks(self.shadow.masks(lo, hi)))
        masks = parts[0] if len(parts) == 1 else xp.concat(parts, axis=0)
        return perturb(xp, self.source, masks, self.mask_shape, self.baseline)


def score_rows(score_fn: ScoreFn, xp: Any, examples: Sequence[ExampleRows], batch_size: int,
               progress: ProgressFn | None, log_scores: bool = False, with_owners: bool = False) -> list[Any]:
    """Score every row of every example, ``batch_size`` rows per ``score_fn`` call.

    With ``with_owners`` the call is ``score_fn(batch, owners)``: ``owners`` is a NumPy int64
    ``(B,)`` array, the index in ``examples`` of each row's example, so a score function that
    scores each example at its own targets never has to count rows itself.

    Returns
    -------
    list of array
        Per example, ``(rows, T)`` scores in the score dtype (float32, or float64 for float64
        inputs), exactly as if it had been swept alone.
    """
    offsets = [0]
    for ex in examples:
        offsets.append(offsets[-1] + ex.n_rows)
    total = offsets[-1]
    first = examples[0].x
    sdtype, device = score_dtype(xp, first.dtype), device_of(first)
    chunks: list[list[Any]] = [[] for _ in examples]
    n_targets: int | None = None
    i, start = 0, 0
    while start < total:
        # a chunk never mixes examples of different shapes: they cannot share one batch array
        run_end = i
        while run_end + 1 < len(examples) and tuple(examples[run_end + 1].x.shape) == tuple(examples[i].x.shape):
            run_end += 1
        stop = min(start + batch_size, offsets[run_end + 1])
        pieces, owners = [], []
        while i < len(examples) and offsets[i] < stop:
            lo, hi = max(start, offsets[i]) - offsets[i], min(stop, offsets[i + 1]) - offsets[i]
            pieces.append(examples[i].rows(lo, hi))
            owners.append((i, hi - lo))
            if offsets[i + 1] > stop:
                break
            i += 1
        batch = pieces[0] if len(pieces) == 1 else xp.concat(pieces, axis=0)
        if with_owners:
            row_owners = np.repeat([owner for owner, _ in owners], [count for _, count in owners]).astype(np.int64)
            scored = score_fn(batch, row_owners)
        else:
            scored = score_fn(batch)
        out = as_score_array(xp, scored, stop - start, n_targets, sdtype, device)
        n_targets = int(out.shape[1])
        row = 0
        for owner, count in owners:
            chunks[owner].append(out if len(owners) == 1 else out[row:row + count, :])
            row += count
        if progress is not None:
            progress(stop, total)
        start = stop
    scores = [c[0] if len(c) == 1 else xp.concat(c, axis=0) for c in chunks]
    for s in scores:
        validate_scores(xp, s, log_scores)
    return scores
