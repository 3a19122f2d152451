"""``benchkit.rowcache.RowCache``: outputs equal the model's own, row by row; each distinct row scored once."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from benchkit.rowcache import RowCache  # noqa: E402


class Recorder:
    """A row-independent model, ``(B, 2, 3) -> (B, 2)``: the sum and the max of each row; records its batches."""

    def __init__(self):
        self.batches = []

    def __call__(self, x):
        self.batches.append(x.clone())
        flat = x.reshape(x.shape[0], -1)
        return torch.stack([flat.sum(1), flat.max(1).values], dim=1)


def test_outputs_and_counts():
    model = Recorder()
    cache = RowCache(model)
    a, b, c = (torch.full((2, 3), v) for v in (1.0, 2.0, -3.0))
    out = cache(torch.stack([a, b, a]))
    assert torch.equal(out, torch.tensor([[6.0, 1.0], [12.0, 2.0], [6.0, 1.0]]))
    assert (cache.misses, cache.hits) == (2, 1)
    assert len(model.batches) == 1 and torch.equal(model.batches[0], torch.stack([a, b]))  # the duplicate once
    out = cache(torch.stack([c, b]))
    assert torch.equal(out, torch.tensor([[-18.0, -3.0], [12.0, 2.0]]))
    assert (cache.misses, cache.hits) == (3, 2)
    assert torch.equal(model.batches[1], c[None])  # only the unseen row
    assert len(model.batches) == 2 and cache(torch.stack([b, c, a])).shape == (3, 2) and len(model.batches) == 2


def test_keys_tell_dtype_and_shape_apart():
    cache = RowCache(Recorder())
    x = torch.zeros(6)
    assert cache.key(x) != cache.key(x.reshape(2, 3))
    assert cache.key(x) != cache.key(torch.zeros(6, dtype=torch.int32))  # same bytes and shape, another dtype
    assert cache.key(x) == cache.key(torch.zeros(6))


def test_clear_forgets():
    model = Recorder()
    cache = RowCache(model)
    x = torch.ones(1, 2, 3)
    cache(x)
    cache.clear()
    cache(x)
    assert len(model.batches) == 2 and cache.misses == 2
