"""The TensorFlow array-API shim, function by function against NumPy, and glas_core run through it."""

from __future__ import annotations

import numpy as np
import pytest

from tests.tf.tiny_keras import tf

import glas_core
from glas_adapters import _tf_namespace as xp
from glas_adapters import tf as glas_tf  # noqa: F401  (registers the shim)

RNG = np.random.default_rng(0)
A = RNG.standard_normal((3, 4)).astype(np.float32)
B = RNG.standard_normal((4, 5)).astype(np.float32)
V = RNG.standard_normal(4).astype(np.float32)
I = np.array([2, 0, 2], dtype=np.int64)
M = np.array([[True, False, True, True], [False, False, True, False], [True, True, True, True]])


def t(a):
    return tf.constant(a)


# (name, shim call, NumPy expectation)
CASES = [
    ("asarray list", lambda: xp.asarray([[1.0, 2.0]]), np.array([[1.0, 2.0]], np.float32)),
    ("asarray dtype", lambda: xp.asarray(A, dtype=xp.float64), A.astype(np.float64)),
    ("arange", lambda: xp.arange(5, dtype=xp.float32), np.arange(5, dtype=np.float32)),
    ("arange start stop step", lambda: xp.arange(2, 11, 3), np.arange(2, 11, 3)),
    ("zeros", lambda: xp.zeros((2, 3), dtype=xp.float64), np.zeros((2, 3))),
    ("ones", lambda: xp.ones(4), np.ones(4, np.float32)),
    ("full", lambda: xp.full((2, 2), 0.5, dtype=xp.float32), np.full((2, 2), 0.5, np.float32)),
    ("zeros_like", lambda: xp.zeros_like(t(A)), np.zeros_like(A)),
    ("linspace", lambda: xp.linspace(0.0, 1.0, 5), np.linspace(0, 1, 5, dtype=np.float32)),
    ("eye k=1", lambda: xp.eye(3, 4, k=1), np.eye(3, 4, k=1, dtype=np.float32)),
    ("exp", lambda: xp.exp(t(A)), np.exp(A)),
    ("abs", lambda: xp.abs(t(A)), np.abs(A)),
    ("sqrt", lambda: xp.sqrt(xp.abs(t(A))), np.sqrt(np.abs(A))),
    ("isfinite", lambda: xp.isfinite(t(np.array([1.0, np.inf, np.nan]))), np.array([True, False, False])),
    ("multiply promotes", lambda: xp.multiply(t(A), t(A.astype(np.float64))), A * A.astype(np.float64)),
    ("subtract scalar", lambda: xp.subtract(t(A), 1.5), A - 1.5),
    ("maximum", lambda: xp.maximum(t(A), 0.0), np.maximum(A, 0)),
    ("where", lambda: xp.where(t(M), t(A), 0.0), np.where(M, A, 0.0)),
    ("clip", lambda: xp.clip(t(A), -0.5, 0.5), np.clip(A, -0.5, 0.5)),
    ("sum axis", lambda: xp.sum(t(A), axis=1), A.sum(axis=1)),
    ("sum keepdims", lambda: xp.sum(t(A), axis=(0, 1), keepdims=True), A.sum(axis=(0, 1), keepdims=True)),
    ("mean", lambda: xp.mean(t(A)), A.mean()),
    ("min", lambda: xp.min(t(A), axis=0), A.min(axis=0)),
    ("max", lambda: xp.max(t(A)), A.max()),
    ("any", lambda: xp.any(t(M), axis=1), M.any(axis=1)),
    ("all", lambda: xp.all(t(M)), M.all()),
    ("argmax", lambda: xp.argmax(t(A), axis=1), A.argmax(axis=1)),
    ("argmax flat", lambda: xp.argmax(t(A)), A.argmax()),
    ("cumulative_sum", lambda: xp.cumulative_sum(t(A), axis=1), np.cumsum(A, axis=1)),
    ("reshape", lambda: xp.reshape(t(A), (4, 3)), A.reshape(4, 3)),
    ("reshape -1", lambda: xp.reshape(t(A), (-1,)), A.reshape(-1)),
    ("permute_dims", lambda: xp.permute_dims(t(A), (1, 0)), A.T),
    ("expand_dims", lambda: xp.expand_dims(t(A), axis=1), A[:, None]),
    ("squeeze", lambda: xp.squeeze(t(A[None]), axis=0), A),
    ("flip", lambda: xp.flip(t(A), axis=1), A[:, ::-1]),
    ("broadcast_to", lambda: xp.broadcast_to(t(V), (3, 4)), np.broadcast_to(V, (3, 4))),
    ("concat", lambda: xp.concat([t(A), t(A)], axis=0), np.concatenate([A, A], axis=0)),
    ("concat axis None", lambda: xp.concat([t(A), t(V)], axis=None), np.concatenate([A.ravel(), V])),
    ("stack", lambda: xp.stack([t(A), t(A)], axis=1), np.stack([A, A], axis=1)),
    ("take", lambda: xp.take(t(A), t(I), axis=0), np.take(A, I, axis=0)),
    ("take flat", lambda: xp.take(t(A), t(I)), np.take(A, I)),
    ("take_along_axis", lambda: xp.take_along_axis(t(A), t(np.argsort(A, axis=1)), axis=1), np.sort(A, axis=1)),
    ("tile", lambda: xp.tile(t(V), (2, 1)), np.tile(V, (2, 1))),
    ("sort descending", lambda: xp.sort(t(A), axis=0, descending=True), -np.sort(-A, axis=0)),
    ("argsort", lambda: xp.argsort(t(V)), np.argsort(V)),
    ("matmul", lambda: xp.matmul(t(A), t(B)), A @ B),
    ("matmul batched", lambda: xp.matmul(t(np.stack([A, A])), t(B)), np.stack([A, A]) @ B),
    ("matmul vector", lambda: xp.matmul(t(A), t(V)), A @ V),
    ("tensordot", lambda: xp.tensordot(t(A), t(B), axes=([1], [0])), np.tensordot(A, B, axes=([1], [0]))),
    ("tensordot int", lambda: xp.tensordot(t(A), t(A), axes=2), np.tensordot(A, A, axes=2)),
    ("vecdot", lambda: xp.vecdot(t(A), t(A)), (A * A).sum(-1)),
    ("astype", lambda: xp.astype(t(A), xp.float64), A.astype(np.float64)),
    ("nonzero", lambda: xp.stack(list(xp.nonzero(t(M))), axis=0), np.stack(np.nonzero(M))),
]


@pytest.mark.parametrize("name, call, expected", CASES, ids=[c[0] for c in CASES])
def test_shim_function_matches_numpy(name, call, expected):
    out = call()
    assert isinstance(out, tf.Tensor)
    got = out.numpy()
    assert got.shape == np.shape(expected)
    assert got.dtype == np.asarray(expected).dtype, (got.dtype, np.asarray(expected).dtype)
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6)


def test_dtype_helpers():
    assert xp.isdtype(xp.float32, "real floating") and not xp.isdtype(xp.int32, "real floating")
    assert xp.isdtype(xp.int64, ("integral", "bool")) and xp.isdtype(xp.uint8, "unsigned integer")
    assert not xp.isdtype(xp.bool, "numeric") and xp.isdtype(xp.float64, xp.float64)
    assert xp.result_type(xp.float32, xp.float64) == tf.float64
    assert xp.result_type(xp.int32, xp.float32) == tf.float64  # NumPy's promotion table
    assert xp.can_cast(xp.float32, xp.float64) and not xp.can_cast(xp.float64, xp.float32)
    assert xp.finfo(xp.float32).eps == np.finfo(np.float32).eps


def test_device_argument_places_the_result():
    dev = tf.constant(1.0).device
    assert xp.zeros(3, device=dev).device == dev
    assert xp.device(xp.arange(3, device=dev)) == dev
    np.testing.assert_array_equal(xp.to_numpy(tf.constant(A)), A)


def _linear_score(w):
    """score(batch) = sigmoid(<batch, w>), written once for NumPy and once for TensorFlow."""
    def np_score(batch):
        return (1 / (1 + np.exp(-np.tensordot(batch, w, axes=3))))[:, None]

    def tf_score(batch):
        return tf.sigmoid(tf.tensordot(batch, tf.constant(w, batch.dtype), axes=3))[:, None]

    return np_score, tf_score


@pytest.mark.parametrize("dtype, tol", [(np.float32, 2e-5), (np.float64, 1e-12)])
def test_core_on_tf_tensors_equals_core_on_numpy(dtype, tol):
    rng = np.random.default_rng(3)
    x = rng.random((14, 10, 2)).astype(dtype)
    w = (rng.standard_normal((14, 10, 2)) * 0.2).astype(dtype)
    np_score, tf_score = _linear_score(w)
    kwargs = dict(spatial_axes=(0, 1), grid=(4, 3), sigma=(2.0, 1.0, 1.5), batch_size=6, baseline=0.3)
    ref = glas_core.explain(np_score, x, **kwargs)
    got = glas_core.explain(tf_score, tf.constant(x), **kwargs)
    assert isinstance(got.saliency, tf.Tensor) and got.saliency.dtype == tf.as_dtype(dtype)
    scale = np.abs(ref.to_numpy()).max()
    np.testing.assert_allclose(got.to_numpy(), ref.to_numpy(), rtol=0, atol=tol * scale)
    np.testing.assert_allclose(glas_core.to_numpy(got.light_scores), ref.light_scores, rtol=tol, atol=tol)
    rec_ref = glas_core.explain_recursive(np_score, x, max_iter=3, **kwargs)
    rec = glas_core.explain_recursive(tf_score, tf.constant(x), max_iter=3, **kwargs)
    np.testing.assert_allclose(rec.to_numpy(), rec_ref.to_numpy(), rtol=0, atol=10 * tol * rec_ref.to_numpy().max())
    assert rec.stop_reasons == rec_ref.stop_reasons
