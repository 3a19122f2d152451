"""Peak memory of explain grows with batch_size, not with the number of search points (tracemalloc, NumPy)."""

from __future__ import annotations

import tracemalloc

import numpy as np

import glas_core


def _peak_bytes(grid: int, batch_size: int) -> int:
    x = np.random.default_rng(0).random((3, 120, 120))

    def score_fn(batch):
        return batch.mean(axis=(1, 2, 3))[:, None] / 2

    glas_core.explain(score_fn, x[:, :16, :16], grid=4)  # warm-up: lazy imports allocate once
    tracemalloc.start()
    tracemalloc.reset_peak()
    glas_core.explain(score_fn, x, grid=grid, batch_size=batch_size)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak


def test_peak_memory_is_flat_in_k():
    k10, k30 = _peak_bytes(10, 16), _peak_bytes(30, 16)
    # one chunk is 16 x 3 x 120 x 120 float64 = 5.5 MB; 9x more points must not add a chunk's worth
    assert k30 < 1.15 * k10, (k10, k30)


def test_peak_memory_grows_with_batch_size():
    small, large = _peak_bytes(10, 8), _peak_bytes(10, 64)
    assert large > 4 * small, (small, large)
