"""A thin array-API namespace over TensorFlow, for :mod:`glas_core`.

``array-api-compat`` cannot take ``tf.Tensor`` objects, so this module *is* the namespace
``xp`` that ``glas_core`` resolves for them once :func:`register` has run.  It holds exactly
the functions and dtypes ``glas_core`` calls (``tests/adapters/tf/test_namespace.py`` checks
that against the core's source), each with array-API semantics (names, keyword arguments,
``device=``) written with plain TensorFlow ops, so that masks and perturbed batches stay on
TensorFlow's device.  Arithmetic, comparison and indexing are ``tf.Tensor``'s own operators.
Nothing here changes global TensorFlow state (no NumPy behaviour, no eager switch).
"""

from __future__ import annotations

import builtins
import contextlib
import sys
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import tensorflow as tf

import glas_core

__array_api_version__ = "2023.12"

float32, float64 = tf.float32, tf.float64

_DEFAULT_FLOAT = tf.float32


# --------------------------------------------------------------------------- helpers
def is_tf_tensor(x: Any) -> bool:
    """True for ``tf.Tensor`` / ``tf.Variable`` objects (eager or symbolic)."""
    return isinstance(x, (tf.Tensor, tf.Variable))


def device(x: Any) -> str:
    """The device string a tensor lives on (``""`` means TensorFlow's default placement)."""
    return getattr(x, "device", "") or ""


def to_numpy(x: Any) -> np.ndarray:
    """Host copy of a tensor as a NumPy array."""
    if is_tf_tensor(x):
        return np.asarray(x.numpy())
    return np.asarray(x)


@contextlib.contextmanager
def _on(dev: Any) -> Iterator[None]:
    """Place the ops of the block on ``dev`` (a device string or a tensor); no-op for None."""
    if dev is not None and not isinstance(dev, str):
        dev = device(dev)
    if dev:
        with tf.device(dev):
            yield
    else:
        yield


def _as_dtype(dtype: Any) -> tf.DType | None:
    return None if dtype is None else tf.as_dtype(dtype)


def _promote(*args: Any) -> list[tf.Tensor]:
    """Cast tensors to their common dtype with NumPy's promotion rules (the standard's, for its dtypes)."""
    tensors = [a for a in args if is_tf_tensor(a) or isinstance(a, np.ndarray)]
    if tensors:
        dtype = tf.as_dtype(np.result_type(*[tf.as_dtype(a.dtype).as_numpy_dtype for a in tensors]))
    else:
        dtype = _DEFAULT_FLOAT
    return [tf.cast(a, dtype) if is_tf_tensor(a) else tf.convert_to_tensor(a, dtype=dtype) for a in args]


def _axes(axis: int | Sequence[int] | None) -> Any:
    return list(axis) if isinstance(axis, (tuple, list)) else axis


def _shape(shape: int | Sequence[int]) -> list[int]:
    return [int(shape)] if isinstance(shape, (int, np.integer)) else [int(s) for s in shape]


# --------------------------------------------------------------------------- data types
def isdtype(dtype: Any, kind: Any) -> builtins.bool:
    """``isdtype`` of the standard for the kinds the core asks about."""
    dtype = tf.as_dtype(dtype)
    if isinstance(kind, tuple):
        return builtins.any(isdtype(dtype, k) for k in kind)
    if kind == "real floating":
        return dtype.is_floating
    if kind == "integral":
        return dtype.is_integer
    if kind == "bool":
        return dtype == tf.bool
    if isinstance(kind, str):
        raise ValueError(f"isdtype: unsupported kind {kind!r}")
    return dtype == tf.as_dtype(kind)


def finfo(dtype: Any) -> np.finfo:
    return np.finfo(tf.as_dtype(dtype).as_numpy_dtype)


def astype(x: Any, dtype: Any, /, *, copy: builtins.bool = True, device: Any = None) -> tf.Tensor:
    with _on(device):
        return tf.cast(x, tf.as_dtype(dtype))


# --------------------------------------------------------------------------- creation
def asarray(obj: Any, /, *, dtype: Any = None, device: Any = None, copy: builtins.bool | None = None) -> tf.Tensor:
    """Tensor from a tensor, NumPy array, Python scalar or nested sequence.

    Python floats become float32 (TensorFlow's default float) unless ``dtype`` says otherwise;
    NumPy arrays keep their dtype.
    """
    dtype = _as_dtype(dtype)
    with _on(device):
        if is_tf_tensor(obj):
            out = obj if dtype is None or obj.dtype == dtype else tf.cast(obj, dtype)
            return tf.identity(out) if (copy or device) else out
        if dtype is None and not isinstance(obj, np.ndarray) and not np.isscalar(obj):
            if np.asarray(obj).dtype == np.float64:
                dtype = _DEFAULT_FLOAT
        return tf.convert_to_tensor(obj, dtype=dtype)


def arange(start: Any, /, stop: Any = None, step: Any = 1, *, dtype: Any = None, device: Any = None) -> tf.Tensor:
    """Integers (int64) or, for float arguments, floats, as the standard's ``arange``."""
    if stop is None:
        start, stop = 0, start
    if dtype is None:
        floats = builtins.any(isinstance(v, float) for v in (start, stop, step))
        dtype = _DEFAULT_FLOAT if floats else tf.int64
    with _on(device):
        return tf.range(start, stop, step, dtype=tf.as_dtype(dtype))


def ones(shape: int | Sequence[int], *, dtype: Any = None, device: Any = None) -> tf.Tensor:
    with _on(device):
        return tf.ones(_shape(shape), dtype=_as_dtype(dtype) or _DEFAULT_FLOAT)


def full(shape: int | Sequence[int], fill_value: Any, *, dtype: Any = None, device: Any = None) -> tf.Tensor:
    if dtype is None:
        dtype = _DEFAULT_FLOAT if isinstance(fill_value, float) else tf.int64
    with _on(device):
        return tf.fill(_shape(shape), tf.constant(fill_value, dtype=tf.as_dtype(dtype)))


def full_like(x: Any, /, fill_value: Any, *, dtype: Any = None, device: Any = None) -> tf.Tensor:
    with _on(device if device is not None else x):
        return tf.fill(tf.shape(x), tf.constant(fill_value, dtype=_as_dtype(dtype) or x.dtype))


def ones_like(x: Any, /, *, dtype: Any = None, device: Any = None) -> tf.Tensor:
    with _on(device if device is not None else x):
        return tf.ones_like(x, dtype=_as_dtype(dtype))


def zeros_like(x: Any, /, *, dtype: Any = None, device: Any = None) -> tf.Tensor:
    with _on(device if device is not None else x):
        return tf.zeros_like(x, dtype=_as_dtype(dtype))


# --------------------------------------------------------------------------- element-wise
def abs(x: Any, /) -> tf.Tensor:  # noqa: A001 - the standard's name
    return tf.abs(x)


def exp(x: Any, /) -> tf.Tensor:
    return tf.exp(x)


def expm1(x: Any, /) -> tf.Tensor:
    return tf.math.expm1(x)


def log(x: Any, /) -> tf.Tensor:
    return tf.math.log(x)


def log1p(x: Any, /) -> tf.Tensor:
    return tf.math.log1p(x)


def isnan(x: Any, /) -> tf.Tensor:
    return tf.math.is_nan(x)


def isfinite(x: Any, /) -> tf.Tensor:
    x = tf.convert_to_tensor(x)
    if not x.dtype.is_floating:
        return tf.ones_like(x, dtype=tf.bool)
    return tf.math.is_finite(x)


def maximum(x1: Any, x2: Any, /) -> tf.Tensor:
    a, b = _promote(x1, x2)
    return tf.maximum(a, b)


def logaddexp(x1: Any, x2: Any, /) -> tf.Tensor:
    """``log(exp(x1) + exp(x2))`` without overflow; equal infinities give themselves (NumPy's rule)."""
    a, b = _promote(x1, x2)
    larger = tf.maximum(a, b)
    equal = tf.equal(a, b)  # both -inf (or +inf): a - b would be NaN
    gap = tf.where(equal, tf.zeros_like(a), -tf.abs(a - b))
    return tf.where(equal, a + tf.cast(np.log(2.0), a.dtype), larger + tf.math.log1p(tf.exp(gap)))


def where(condition: Any, x1: Any, x2: Any, /) -> tf.Tensor:
    a, b = _promote(x1, x2)
    cond = tf.convert_to_tensor(condition, dtype=tf.bool)
    shape = tf.broadcast_static_shape(tf.broadcast_static_shape(cond.shape, a.shape), b.shape)
    return tf.where(tf.broadcast_to(cond, shape), tf.broadcast_to(a, shape), tf.broadcast_to(b, shape))


# --------------------------------------------------------------------------- reductions
def max(x: Any, /, *, axis: int | Sequence[int] | None = None, keepdims: builtins.bool = False) -> tf.Tensor:  # noqa: A001
    return tf.reduce_max(x, axis=_axes(axis), keepdims=keepdims)


def min(x: Any, /, *, axis: int | Sequence[int] | None = None, keepdims: builtins.bool = False) -> tf.Tensor:  # noqa: A001
    return tf.reduce_min(x, axis=_axes(axis), keepdims=keepdims)


def sum(x: Any, /, *, axis: int | Sequence[int] | None = None, keepdims: builtins.bool = False) -> tf.Tensor:  # noqa: A001
    return tf.reduce_sum(x, axis=_axes(axis), keepdims=keepdims)


def argmax(x: Any, /, *, axis: int | None = None, keepdims: builtins.bool = False) -> tf.Tensor:
    """Index (int64) of the first maximum, along ``axis`` or of the flattened array."""
    if axis is None:
        out = tf.argmax(tf.reshape(x, [-1]), axis=0)
        return tf.reshape(out, [1] * len(x.shape)) if keepdims else out
    out = tf.argmax(x, axis=axis)
    return tf.expand_dims(out, axis) if keepdims else out


def mean(x: Any, /, *, axis: int | Sequence[int] | None = None, keepdims: builtins.bool = False) -> tf.Tensor:
    return tf.reduce_mean(x, axis=_axes(axis), keepdims=keepdims)


def any(x: Any, /, *, axis: int | Sequence[int] | None = None, keepdims: builtins.bool = False) -> tf.Tensor:  # noqa: A001
    return tf.reduce_any(tf.cast(x, tf.bool), axis=_axes(axis), keepdims=keepdims)


def all(x: Any, /, *, axis: int | Sequence[int] | None = None, keepdims: builtins.bool = False) -> tf.Tensor:  # noqa: A001
    return tf.reduce_all(tf.cast(x, tf.bool), axis=_axes(axis), keepdims=keepdims)


# --------------------------------------------------------------------------- manipulation
def reshape(x: Any, /, shape: Sequence[int], *, copy: builtins.bool | None = None) -> tf.Tensor:
    return tf.reshape(x, list(shape))


def permute_dims(x: Any, /, axes: Sequence[int]) -> tf.Tensor:
    return tf.transpose(x, perm=list(axes))


def broadcast_to(x: Any, /, shape: Sequence[int]) -> tf.Tensor:
    return tf.broadcast_to(x, list(shape))


def concat(arrays: Sequence[Any], /, *, axis: int | None = 0) -> tf.Tensor:
    arrays = _promote(*arrays)
    if axis is None:
        return tf.concat([tf.reshape(a, [-1]) for a in arrays], axis=0)
    return tf.concat(arrays, axis=axis)


def stack(arrays: Sequence[Any], /, *, axis: int = 0) -> tf.Tensor:
    return tf.stack(_promote(*arrays), axis=axis)


def take(x: Any, indices: Any, /, *, axis: int | None = None) -> tf.Tensor:
    if axis is None:
        x, axis = tf.reshape(x, [-1]), 0
    return tf.gather(x, indices, axis=axis)


# --------------------------------------------------------------------------- linear algebra
def matmul(x1: Any, x2: Any, /) -> tf.Tensor:
    a, b = _promote(x1, x2)
    if len(a.shape) == 1 and len(b.shape) == 1:
        return tf.reduce_sum(a * b)
    if len(a.shape) == 1:
        return tf.squeeze(tf.matmul(a[None, :], b), axis=-2)
    if len(b.shape) == 1:
        return tf.squeeze(tf.matmul(a, b[:, None]), axis=-1)
    return tf.matmul(a, b)


def tensordot(x1: Any, x2: Any, /, *, axes: int | tuple[Sequence[int], Sequence[int]] = 2) -> tf.Tensor:
    a, b = _promote(x1, x2)
    tf_axes = axes if isinstance(axes, int) else [list(axes[0]), list(axes[1])]
    return tf.tensordot(a, b, axes=tf_axes)


# --------------------------------------------------------------------------- registration
def register() -> None:
    """Register this namespace with ``glas_core`` for ``tf.Tensor`` inputs (idempotent)."""
    glas_core.register_namespace(is_tf_tensor, sys.modules[__name__], device=device, to_numpy=to_numpy)
