"""explain_batch: rows of consecutive examples packed into full chunks, maps equal to explain's."""

from __future__ import annotations

import numpy as np
import pytest

import glas_core
from glas_core import GLASError

W = np.random.default_rng(3).normal(size=(3, 12, 12, 4))


def row_model(calls):
    """Softmax of a linear model, computed row by row, so a row's score never depends on its batch."""
    def score(batch):
        calls.append(len(batch))
        z = np.einsum("bchw,chwk->bk", batch, W)
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return (e / e.sum(axis=1, keepdims=True))[:, [0, 2]]
    return score


@pytest.mark.parametrize("batch_size", [1, 7, 64, 1000])
@pytest.mark.parametrize("mode", ["fusion", "shadow"])
def test_packed_maps_equal_per_example_maps_bit_for_bit(batch_size, mode):
    xs = np.random.default_rng(0).random((5, 3, 12, 12))
    calls = []
    packed = glas_core.explain_batch(row_model(calls), xs, grid=4, sigma=1.5, mode=mode, batch_size=batch_size)
    rows = 1 + 16 * (2 if mode == "fusion" else 1)
    total = 5 * rows
    assert calls == [batch_size] * (total // batch_size) + ([total % batch_size] if total % batch_size else [])
    for x, res in zip(xs, packed):
        alone = glas_core.explain(row_model([]), x, grid=4, sigma=1.5, mode=mode, batch_size=batch_size)
        assert np.array_equal(res.to_numpy(), alone.to_numpy())
        assert np.array_equal(res.clean_scores, alone.clean_scores) and res.n_forward == rows


def test_examples_of_different_sizes_and_baselines_per_example():
    rng = np.random.default_rng(1)
    xs = [rng.random((1, 10, 12)), rng.random((1, 16, 8))]
    baselines = [0.2, np.full((1, 16, 8), 0.5)]
    score = lambda b: b[:, 0, :4, :4].mean(axis=(1, 2))[:, None]  # noqa: E731
    packed = glas_core.explain_batch(score, xs, grid=4, baseline=baselines, batch_size=10)
    for x, b, res in zip(xs, baselines, packed):
        alone = glas_core.explain(score, x, grid=4, baseline=b, batch_size=10)
        assert res.to_numpy().shape == (1,) + x.shape[1:]
        assert np.array_equal(res.to_numpy(), alone.to_numpy())
    stacked = np.stack([xs[0], xs[0] * 0.5])
    per = glas_core.explain_batch(score, stacked, grid=4, baseline=np.stack([np.zeros((1, 10, 12)), stacked[1]]))
    assert np.array_equal(per[0].to_numpy(), glas_core.explain(score, xs[0], grid=4).to_numpy())
    assert not per[1].to_numpy().any()  # baseline == image: every row is the image, so the map is zero


def test_progress_counts_rows_of_all_examples():
    seen = []
    glas_core.explain_batch(row_model([]), np.random.default_rng(2).random((3, 3, 12, 12)), grid=3, batch_size=8,
                            progress=lambda done, total: seen.append((done, total)))
    assert seen[-1] == (3 * 19, 3 * 19) and all(t == 57 for _, t in seen)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)


def test_bad_inputs_are_refused():
    with pytest.raises(GLASError, match="xs must be at least one example"):
        glas_core.explain_batch(row_model([]), [])
    with pytest.raises(GLASError, match=r"baseline must be one baseline, or one per example \(2\), got 3 baselines"):
        glas_core.explain_batch(row_model([]), np.zeros((2, 3, 12, 12)), baseline=[0, 0, 0])
