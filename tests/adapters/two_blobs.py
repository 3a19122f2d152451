"""A hand-built linear classifier that sees two blobs, for the recursive ``stop=`` tests of every adapter.

Class 0's logit sums the pixels of a bright blob A and a dimmer blob B (weight 0.3 each, bias
-3); class 1's logit is 0. Recursive GLAS finds A first and B, with less evidence, second; a
third sweep has almost nothing left. With ``stop="evidence", min_evidence=0.1`` the loop ends
after two iterations (reason "no_evidence", the second weighed about 0.6), while the paper's
rule runs to ``max_iter``. The reference score function is plain NumPy.
"""

from __future__ import annotations

import numpy as np

SIZE = 16
BLOB_A = (slice(2, 6), slice(2, 6))
BLOB_B = (slice(10, 14), slice(9, 13))


def weights_chw() -> tuple[np.ndarray, np.ndarray]:
    """``W (3 * SIZE * SIZE, 2)`` for inputs flattened in (C, H, W) order, and ``b (2,)``."""
    w = np.zeros((2, 3, SIZE, SIZE), np.float32)
    w[0, :, BLOB_A[0], BLOB_A[1]] = 0.3
    w[0, :, BLOB_B[0], BLOB_B[1]] = 0.3
    return w.reshape(2, -1).T.copy(), np.array([-3.0, 0.0], np.float32)


def weights_hwc() -> tuple[np.ndarray, np.ndarray]:
    """The same classifier for inputs flattened in (H, W, C) order."""
    w, b = weights_chw()
    return w.reshape(3, SIZE, SIZE, 2).transpose(1, 2, 0, 3).reshape(-1, 2).copy(), b


def image_chw() -> np.ndarray:
    """``(3, SIZE, SIZE)`` float32: background 0.1, blob A 1.0, blob B 0.5."""
    x = np.full((3, SIZE, SIZE), 0.1, np.float32)
    x[:, BLOB_A[0], BLOB_A[1]] = 1.0
    x[:, BLOB_B[0], BLOB_B[1]] = 0.5
    return x


def log_softmax_fn(w: np.ndarray, b: np.ndarray, target: int):
    """``score_fn(batch) -> (B, 1)`` float64 log-softmax of ``target`` of ``flatten(batch) @ w + b``."""
    def score_fn(batch):
        z = np.asarray(batch, np.float64).reshape(len(batch), -1) @ w.astype(np.float64) + b
        top = z.max(axis=1, keepdims=True)
        return (z - top - np.log(np.exp(z - top).sum(axis=1, keepdims=True)))[:, [target]]
    return score_fn


def assert_same_iterations(got, want, rtol: float = 1e-4) -> None:
    """Two RecursiveResults of one target have the same iterations, weights, stop reason and passes."""
    assert got.stop_reasons == want.stop_reasons
    assert got.n_forward == want.n_forward
    assert len(got.iterations[0]) == len(want.iterations[0])
    for g, e in zip(got.iterations[0], want.iterations[0]):
        np.testing.assert_allclose(g.weight, e.weight, rtol=rtol)
        np.testing.assert_array_equal(g.removed_points, e.removed_points)
        assert g.n_points == e.n_points
        gs, es = np.asarray(_numpy(g.saliency)), np.asarray(_numpy(e.saliency))
        np.testing.assert_allclose(gs, es, rtol=rtol, atol=rtol * np.abs(es).max())


def _numpy(a):
    import glas_core

    return glas_core.to_numpy(a)
