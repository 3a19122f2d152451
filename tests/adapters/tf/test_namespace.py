"""The TensorFlow array-API shim: exactly the functions glas_core calls, each against NumPy,
and glas_core run through it."""

from __future__ import annotations

import os
import re

import numpy as np
import pytest

import glas_core
from glas_adapters.tf import namespace as xp
from tests.adapters.tf.tiny_keras import tf

RNG = np.random.default_rng(0)
A = RNG.standard_normal((3, 4)).astype(np.float32)
B = RNG.standard_normal((4, 5)).astype(np.float32)
V = RNG.standard_normal(4).astype(np.float32)
IDX = np.array([2, 0, 2], dtype=np.int64)
M = np.array([[True, False, True, True], [False, False, True, False], [True, True, True, True]])
L = np.array([-np.inf, -np.inf, 0.5, np.inf, -3.0], dtype=np.float32)
R = np.array([-np.inf, 1.0, 0.5, np.inf, 40.0], dtype=np.float32)

#: shim names that are not array-API functions the core calls: the shim's own plumbing
PLUMBING = {"device", "is_tf_tensor", "register", "to_numpy"}
#: names the core uses that exist for other backends only (array_api_strict's device object)
NOT_FOR_TF = {"Device"}


def t(a):
    return tf.constant(a)


# (name, shim call, NumPy expectation)
CASES = [
    ("asarray list", lambda: xp.asarray([[1.0, 2.0]]), np.array([[1.0, 2.0]], np.float32)),
    ("asarray dtype", lambda: xp.asarray(A, dtype=xp.float64), A.astype(np.float64)),
    ("astype", lambda: xp.astype(t(A), xp.float64), A.astype(np.float64)),
    ("ones", lambda: xp.ones((2, 3), dtype=xp.float64), np.ones((2, 3))),
    ("arange", lambda: xp.arange(5), np.arange(5, dtype=np.int64)),
    ("arange start stop", lambda: xp.arange(2, 7, 2), np.arange(2, 7, 2, dtype=np.int64)),
    ("full", lambda: xp.full((2, 2), 0.5, dtype=xp.float32), np.full((2, 2), 0.5, np.float32)),
    ("full_like", lambda: xp.full_like(t(A), -np.inf), np.full_like(A, -np.inf)),
    ("ones_like", lambda: xp.ones_like(t(A)), np.ones_like(A)),
    ("zeros_like", lambda: xp.zeros_like(t(A)), np.zeros_like(A)),
    ("abs", lambda: xp.abs(t(A)), np.abs(A)),
    ("exp", lambda: xp.exp(t(A)), np.exp(A)),
    ("expm1", lambda: xp.expm1(t(A * 1e-4)), np.expm1(A * 1e-4)),
    ("log", lambda: xp.log(xp.abs(t(A))), np.log(np.abs(A))),
    ("log1p", lambda: xp.log1p(xp.abs(t(A * 1e-6))), np.log1p(np.abs(A * 1e-6))),
    ("isnan", lambda: xp.isnan(t(np.array([1.0, np.inf, np.nan]))), np.array([False, False, True])),
    ("isfinite", lambda: xp.isfinite(t(np.array([1.0, np.inf, np.nan]))), np.array([True, False, False])),
    ("maximum promotes", lambda: xp.maximum(t(A), t(A.astype(np.float64) - 0.1)),
     np.maximum(A, A.astype(np.float64) - 0.1)),
    ("logaddexp", lambda: xp.logaddexp(t(L), t(R)), np.logaddexp(L, R)),
    ("where scalar", lambda: xp.where(t(M), t(A), 0.0), np.where(M, A, 0.0)),
    ("where broadcast", lambda: xp.where(t(M[:1]), t(A), t(V)), np.where(M[:1], A, V)),
    ("max", lambda: xp.max(t(A)), A.max()),
    ("max axis", lambda: xp.max(t(A), axis=0), A.max(axis=0)),
    ("min", lambda: xp.min(t(A), axis=1), A.min(axis=1)),
    ("mean", lambda: xp.mean(t(A)), A.mean()),
    ("sum", lambda: xp.sum(t(A)), A.sum()),
    ("argmax", lambda: xp.argmax(t(A)), np.argmax(A).astype(np.int64)),
    ("argmax axis keepdims", lambda: xp.argmax(t(A), axis=-1, keepdims=True), np.argmax(A, axis=-1, keepdims=True)),
    ("sum axis", lambda: xp.sum(t(A), axis=1, keepdims=True), A.sum(axis=1, keepdims=True)),
    ("any", lambda: xp.any(t(M), axis=1), M.any(axis=1)),
    ("all", lambda: xp.all(t(M)), M.all()),
    ("reshape", lambda: xp.reshape(t(A), (4, 3)), A.reshape(4, 3)),
    ("reshape -1", lambda: xp.reshape(t(A), (-1,)), A.reshape(-1)),
    ("permute_dims", lambda: xp.permute_dims(t(A), (1, 0)), A.T),
    ("broadcast_to", lambda: xp.broadcast_to(t(V), (3, 4)), np.broadcast_to(V, (3, 4))),
    ("concat", lambda: xp.concat([t(A), t(A)], axis=0), np.concatenate([A, A], axis=0)),
    ("stack", lambda: xp.stack([t(A), t(A)], axis=1), np.stack([A, A], axis=1)),
    ("take", lambda: xp.take(t(A), t(IDX), axis=0), np.take(A, IDX, axis=0)),
    ("matmul", lambda: xp.matmul(t(A), t(B)), A @ B),
    ("matmul batched", lambda: xp.matmul(t(np.stack([A, A])), t(B)), np.stack([A, A]) @ B),
    ("tensordot", lambda: xp.tensordot(t(A), t(B), axes=([1], [0])), np.tensordot(A, B, axes=([1], [0]))),
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
    assert xp.isdtype(xp.float32, "real floating") and xp.isdtype(xp.float64, "real floating")
    assert not xp.isdtype(tf.int32, "real floating") and xp.isdtype(xp.float64, xp.float64)
    assert xp.finfo(xp.float32).eps == np.finfo(np.float32).eps


def test_device_argument_places_the_result():
    dev = tf.constant(1.0).device
    assert xp.ones(3, device=dev).device == dev
    assert xp.device(xp.zeros_like(tf.constant(A), device=dev)) == dev
    np.testing.assert_array_equal(xp.to_numpy(tf.constant(A)), A)


def _core_namespace_calls() -> set[str]:
    """Every ``xp.<name>`` in glas_core's source."""
    root = os.path.dirname(glas_core.__file__)
    found = set()
    for folder, _, files in os.walk(root):
        for name in files:
            if name.endswith(".py"):
                with open(os.path.join(folder, name), encoding="utf-8") as f:
                    found |= set(re.findall(r"\bxp\.([A-Za-z_][A-Za-z0-9_]*)", f.read()))
    return found


def test_the_shim_holds_exactly_what_the_core_calls():
    """A function the core starts to call must be added here (or TF inputs break); one it stops
    calling must go (the shim is no general TensorFlow array API)."""
    def offered(value):  # a function defined in the shim, or a dtype
        return isinstance(value, tf.DType) or (callable(value) and getattr(value, "__module__", "") == xp.__name__)

    shim = {n for n, v in vars(xp).items() if not n.startswith("_") and n not in PLUMBING and offered(v)}
    used = _core_namespace_calls() - NOT_FOR_TF
    assert used - shim == set(), "the core calls these, the TensorFlow shim lacks them"
    assert shim - used == set(), "the shim holds these, the core no longer calls them"


def _linear_score(w):
    """score(batch) = sigmoid(<batch, w>), written once for NumPy and once for TensorFlow."""
    def np_score(batch):
        return (1 / (1 + np.exp(-np.tensordot(batch, w, axes=3))))[:, None]

    def tf_score(batch):
        return tf.sigmoid(tf.tensordot(batch, tf.constant(w, batch.dtype), axes=3))[:, None]

    return np_score, tf_score


@pytest.mark.parametrize("dtype, tol", [(np.float32, 2e-5), (np.float64, 1e-12)])
def test_core_on_tf_tensors_equals_core_on_numpy(dtype, tol):
    import glas_adapters.tf  # noqa: F401  (registers the shim)

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
    np.testing.assert_allclose(glas_core.to_numpy(got.light_scores), glas_core.to_numpy(ref.light_scores),
                               rtol=tol, atol=tol)
    rec_ref = glas_core.explain_recursive(np_score, x, max_iter=3, **kwargs)
    rec = glas_core.explain_recursive(tf_score, tf.constant(x), max_iter=3, **kwargs)
    np.testing.assert_allclose(rec.to_numpy(), rec_ref.to_numpy(), rtol=0, atol=10 * tol * rec_ref.to_numpy().max())
    assert rec.stop_reasons == rec_ref.stop_reasons


def test_core_with_custom_points_on_tf_tensors_equals_numpy():
    import glas_adapters.tf  # noqa: F401  (registers the shim)

    rng = np.random.default_rng(4)
    x = rng.random((12, 9, 3)).astype(np.float32)
    w = (rng.standard_normal((12, 9, 3)) * 0.2).astype(np.float32)
    np_score, tf_score = _linear_score(w)
    kwargs = dict(spatial_axes=(0, 1), points=[[2.0, 3.0], [8.5, 1.0], [5.0, 7.0]], sigma_px=(3.0, 2.0, 4.0))
    ref = glas_core.explain(np_score, x, **kwargs).to_numpy()
    got = glas_core.explain(tf_score, tf.constant(x), **kwargs).to_numpy()
    np.testing.assert_allclose(got, ref, rtol=0, atol=2e-5 * np.abs(ref).max())


def test_core_in_the_log_domain_on_tf_tensors_equals_numpy():
    """log_scores=True runs the log-domain functions of the shim (logaddexp, expm1, ...)."""
    import glas_adapters.tf  # noqa: F401  (registers the shim)

    rng = np.random.default_rng(5)
    x = rng.random((12, 10, 2)).astype(np.float32)
    w = (rng.standard_normal((12, 10, 2)) * 0.3).astype(np.float32)

    def np_score(batch):  # log-sigmoid of a linear score
        return -np.logaddexp(0.0, -np.tensordot(batch, w, axes=3))[:, None]

    def tf_score(batch):
        return tf.math.log_sigmoid(tf.tensordot(batch, tf.constant(w), axes=3))[:, None]

    kwargs = dict(spatial_axes=(0, 1), grid=(4, 3), sigma=(2.0, 1.0, 1.5), log_scores=True)
    ref = glas_core.explain(np_score, x, **kwargs).to_numpy()
    got = glas_core.explain(tf_score, tf.constant(x), **kwargs).to_numpy()
    assert np.ptp(ref) > 0
    np.testing.assert_allclose(got, ref, rtol=0, atol=2e-5 * np.abs(ref).max())


def test_core_on_a_tf_volume_equals_numpy():
    """A 3-D grid builds its masks with ``take``."""
    import glas_adapters.tf  # noqa: F401  (registers the shim)

    rng = np.random.default_rng(6)
    x = rng.random((6, 7, 8, 1)).astype(np.float32)
    w = (rng.standard_normal((6, 7, 8, 1)) * 0.2).astype(np.float32)

    def np_score(batch):
        return (1 / (1 + np.exp(-np.tensordot(batch, w, axes=4))))[:, None]

    def tf_score(batch):
        return tf.sigmoid(tf.tensordot(batch, tf.constant(w), axes=4))[:, None]

    kwargs = dict(spatial_axes=(0, 1, 2), grid=(2, 3, 2), sigma=1.5, batch_size=5)
    ref = glas_core.explain(np_score, x, **kwargs).to_numpy()
    got = glas_core.explain(tf_score, tf.constant(x), **kwargs).to_numpy()
    np.testing.assert_allclose(got, ref, rtol=0, atol=2e-5 * np.abs(ref).max())
