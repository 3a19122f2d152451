"""A thin array-API namespace over TensorFlow, for :mod:`glas_core`.

``array-api-compat`` cannot take ``tf.Tensor`` objects, so this module *is* the
namespace ``xp`` that ``glas_core`` resolves for them once :func:`register` has run
(``glas_core.register_namespace``).  Only the standard functions the core needs are
here, each with array-API semantics (names, keyword arguments, ``device=``), written
with plain TensorFlow ops so that masks and perturbed batches stay on TensorFlow's
device.  Nothing here changes global TensorFlow state (no NumPy behaviour, no eager
switch).

Known limits, by design of ``tf.Tensor`` itself: no in-place writes, no ``.T``/``.mT``
(use :func:`permute_dims` / :func:`matrix_transpose`), no boolean-mask indexing
(use :func:`where` / :func:`take`).
"""

from __future__ import annotations

import builtins
import contextlib
import math
from typing import Any, Iterator, Sequence

import numpy as np
import tensorflow as tf

__array_api_version__ = "2023.12"

builtins_bool = builtins.bool

# --------------------------------------------------------------------------- dtypes
bool = tf.bool  # noqa: A001 - the standard's name
int8, int16, int32, int64 = tf.int8, tf.int16, tf.int32, tf.int64
uint8, uint16, uint32, uint64 = tf.uint8, tf.uint16, tf.uint32, tf.uint64
float16, float32, float64 = tf.float16, tf.float32, tf.float64
complex64, complex128 = tf.complex64, tf.complex128

e, pi, inf, nan = math.e, math.pi, math.inf, math.nan
newaxis = None

_DEFAULT_FLOAT = tf.float32
_DEFAULT_INT = tf.int64


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


def _result_dtype(*args: Any) -> tf.DType:
    """Array-API type promotion over tensors; Python scalars are weak (take the tensor's dtype)."""
    tensors = [a for a in args if is_tf_tensor(a) or isinstance(a, np.ndarray)]
    if not tensors:
        if builtins.any(isinstance(a, float) for a in args):
            return _DEFAULT_FLOAT
        if builtins.all(isinstance(a, (builtins.bool, np.bool_)) for a in args):
            return tf.bool
        return _DEFAULT_INT
    return result_type(*[tf.as_dtype(a.dtype) for a in tensors])


def _promote(*args: Any) -> list[tf.Tensor]:
    dtype = _result_dtype(*args)
    return [tf.cast(a, dtype) if is_tf_tensor(a) else tf.convert_to_tensor(a, dtype=dtype) for a in args]


def _axes(axis: int | Sequence[int] | None) -> Any:
    return list(axis) if isinstance(axis, (tuple, list)) else axis


# --------------------------------------------------------------------------- data types
def isdtype(dtype: Any, kind: Any) -> builtins_bool:
    """``isdtype`` of the standard: ``kind`` is a dtype, a kind name or a tuple of them."""
    dtype = tf.as_dtype(dtype)
    if isinstance(kind, tuple):
        return builtins.any(isdtype(dtype, k) for k in kind)
    if isinstance(kind, str):
        if kind == "bool":
            return dtype == tf.bool
        if kind == "signed integer":
            return dtype.is_integer and not dtype.is_unsigned
        if kind == "unsigned integer":
            return dtype.is_integer and dtype.is_unsigned
        if kind == "integral":
            return dtype.is_integer
        if kind == "real floating":
            return dtype.is_floating
        if kind == "complex floating":
            return dtype.is_complex
        if kind == "numeric":
            return (dtype.is_integer or dtype.is_floating or dtype.is_complex) and dtype != tf.bool
        raise ValueError(f"isdtype: unknown kind {kind!r}")
    return dtype == tf.as_dtype(kind)



def result_type(*arrays_and_dtypes: Any) -> tf.DType:
    """Promote dtypes with NumPy's rules (which agree with the standard's table for its dtypes)."""
    np_types = []
    for a in arrays_and_dtypes:
        if isinstance(a, tf.DType):
            np_types.append(a.as_numpy_dtype)
        elif hasattr(a, "dtype"):
            np_types.append(tf.as_dtype(a.dtype).as_numpy_dtype)
        else:
            np_types.append(np.dtype(a))
    return tf.as_dtype(np.result_type(*np_types))


def can_cast(from_: Any, to: Any) -> builtins_bool:
    src = tf.as_dtype(from_.dtype if hasattr(from_, "dtype") else from_).as_numpy_dtype
    return builtins_bool(np.can_cast(src, tf.as_dtype(to).as_numpy_dtype))


def finfo(dtype: Any) -> Any:
    return np.finfo(tf.as_dtype(dtype.dtype if hasattr(dtype, "dtype") else dtype).as_numpy_dtype)


def iinfo(dtype: Any) -> Any:
    return np.iinfo(tf.as_dtype(dtype.dtype if hasattr(dtype, "dtype") else dtype).as_numpy_dtype)


def astype(x: Any, dtype: Any, /, *, copy: builtins_bool = True, device: Any = None) -> tf.Tensor:
    with _on(device):
        return tf.cast(x, tf.as_dtype(dtype))


# --------------------------------------------------------------------------- creation
def asarray(obj: Any, /, *, dtype: Any = None, device: Any = None, copy: builtins_bool | None = None) -> tf.Tensor:
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
            arr = np.asarray(obj)
            if arr.dtype == np.float64:
                dtype = _DEFAULT_FLOAT
        return tf.convert_to_tensor(obj, dtype=dtype)


def arange(start: float, /, stop: float | None = None, step: float = 1, *, dtype: Any = None,
           device: Any = None) -> tf.Tensor:
    if stop is None:
        start, stop = 0, start
    dtype = _as_dtype(dtype)
    if dtype is None:
        dtype = _DEFAULT_FLOAT if builtins.any(isinstance(v, float) for v in (start, stop, step)) else _DEFAULT_INT
    with _on(device):
        return tf.range(tf.cast(start, dtype), tf.cast(stop, dtype), tf.cast(step, dtype), dtype=dtype)


def _shape(shape: int | Sequence[int]) -> list[int]:
    return [int(shape)] if isinstance(shape, (int, np.integer)) else [int(s) for s in shape]


def zeros(shape: int | Sequence[int], *, dtype: Any = None, device: Any = None) -> tf.Tensor:
    with _on(device):
        return tf.zeros(_shape(shape), dtype=_as_dtype(dtype) or _DEFAULT_FLOAT)


def ones(shape: int | Sequence[int], *, dtype: Any = None, device: Any = None) -> tf.Tensor:
    with _on(device):
        return tf.ones(_shape(shape), dtype=_as_dtype(dtype) or _DEFAULT_FLOAT)


def empty(shape: int | Sequence[int], *, dtype: Any = None, device: Any = None) -> tf.Tensor:
    return zeros(shape, dtype=dtype, device=device)


def full(shape: int | Sequence[int], fill_value: Any, *, dtype: Any = None, device: Any = None) -> tf.Tensor:
    if dtype is None:
        dtype = _result_dtype(fill_value)
    with _on(device):
        return tf.fill(_shape(shape), tf.constant(fill_value, dtype=tf.as_dtype(dtype)))


def zeros_like(x: Any, /, *, dtype: Any = None, device: Any = None) -> tf.Tensor:
    with _on(device if device is not None else x):
        return tf.zeros_like(x, dtype=_as_dtype(dtype))


def ones_like(x: Any, /, *, dtype: Any = None, device: Any = None) -> tf.Tensor:
    with _on(device if device is not None else x):
        return tf.ones_like(x, dtype=_as_dtype(dtype))


def full_like(x: Any, /, fill_value: Any, *, dtype: Any = None, device: Any = None) -> tf.Tensor:
    return full(tuple(x.shape), fill_value, dtype=dtype or x.dtype, device=device if device is not None else x)


def empty_like(x: Any, /, *, dtype: Any = None, device: Any = None) -> tf.Tensor:
    return zeros_like(x, dtype=dtype, device=device)


def linspace(start: float, stop: float, /, num: int, *, dtype: Any = None, device: Any = None,
             endpoint: builtins_bool = True) -> tf.Tensor:
    dtype = _as_dtype(dtype) or _DEFAULT_FLOAT
    with _on(device):
        if endpoint:
            return tf.cast(tf.linspace(tf.cast(start, tf.float64), tf.cast(stop, tf.float64), num), dtype)
        step = (stop - start) / num
        return tf.cast(start + tf.range(num, dtype=tf.float64) * step, dtype)


def eye(n_rows: int, n_cols: int | None = None, /, *, k: int = 0, dtype: Any = None,
        device: Any = None) -> tf.Tensor:
    n_cols = n_rows if n_cols is None else n_cols
    with _on(device):
        rows = tf.range(n_rows)[:, None]
        cols = tf.range(n_cols)[None, :]
        return tf.cast(tf.equal(cols - rows, k), _as_dtype(dtype) or _DEFAULT_FLOAT)


# --------------------------------------------------------------------------- element-wise
def _unary(fn: Any) -> Any:
    def op(x: Any, /) -> tf.Tensor:
        return fn(x)

    op.__name__ = getattr(fn, "__name__", "op")
    return op


exp = _unary(tf.exp)
log = _unary(tf.math.log)
sqrt = _unary(tf.sqrt)
square = _unary(tf.square)
abs = _unary(tf.abs)  # noqa: A001
negative = _unary(tf.negative)
floor = _unary(tf.floor)
ceil = _unary(tf.math.ceil)
round = _unary(tf.round)  # noqa: A001 - half to even, as the standard asks
sign = _unary(tf.sign)
isnan = _unary(tf.math.is_nan)
isinf = _unary(tf.math.is_inf)
logical_not = _unary(tf.logical_not)


def isfinite(x: Any, /) -> tf.Tensor:
    x = tf.convert_to_tensor(x)
    if not x.dtype.is_floating:
        return tf.ones_like(x, dtype=tf.bool)
    return tf.math.is_finite(x)


def _binary(fn: Any, name: str) -> Any:
    def op(x1: Any, x2: Any, /) -> tf.Tensor:
        a, b = _promote(x1, x2)
        return fn(a, b)

    op.__name__ = name
    return op


add = _binary(tf.add, "add")
subtract = _binary(tf.subtract, "subtract")
multiply = _binary(tf.multiply, "multiply")
divide = _binary(tf.divide, "divide")
pow = _binary(tf.pow, "pow")  # noqa: A001
maximum = _binary(tf.maximum, "maximum")
minimum = _binary(tf.minimum, "minimum")
equal = _binary(tf.equal, "equal")
not_equal = _binary(tf.not_equal, "not_equal")
greater = _binary(tf.greater, "greater")
greater_equal = _binary(tf.greater_equal, "greater_equal")
less = _binary(tf.less, "less")
less_equal = _binary(tf.less_equal, "less_equal")
logical_and = _binary(tf.logical_and, "logical_and")
logical_or = _binary(tf.logical_or, "logical_or")


def clip(x: Any, /, min: Any = None, max: Any = None) -> tf.Tensor:  # noqa: A002
    out = x
    if min is not None:
        out = tf.maximum(out, tf.cast(min, x.dtype))
    if max is not None:
        out = tf.minimum(out, tf.cast(max, x.dtype))
    return out


def where(condition: Any, x1: Any, x2: Any, /) -> tf.Tensor:
    a, b = _promote(x1, x2)
    cond = tf.convert_to_tensor(condition, dtype=tf.bool)
    shape = tf.broadcast_static_shape(tf.broadcast_static_shape(cond.shape, a.shape), b.shape)
    return tf.where(tf.broadcast_to(cond, shape), tf.broadcast_to(a, shape), tf.broadcast_to(b, shape))


# --------------------------------------------------------------------------- reductions
def _reduction(fn: Any, name: str) -> Any:
    def op(x: Any, /, *, axis: int | Sequence[int] | None = None, keepdims: builtins_bool = False) -> tf.Tensor:
        return fn(x, axis=_axes(axis), keepdims=keepdims)

    op.__name__ = name
    return op


max = _reduction(tf.reduce_max, "max")  # noqa: A001
min = _reduction(tf.reduce_min, "min")  # noqa: A001
mean = _reduction(tf.reduce_mean, "mean")
prod = _reduction(tf.reduce_prod, "prod")


def sum(x: Any, /, *, axis: int | Sequence[int] | None = None, dtype: Any = None,  # noqa: A001
        keepdims: builtins_bool = False) -> tf.Tensor:
    if dtype is not None:
        x = tf.cast(x, tf.as_dtype(dtype))
    return tf.reduce_sum(x, axis=_axes(axis), keepdims=keepdims)


def any(x: Any, /, *, axis: int | Sequence[int] | None = None, keepdims: builtins_bool = False) -> tf.Tensor:  # noqa: A001
    return tf.reduce_any(tf.cast(x, tf.bool), axis=_axes(axis), keepdims=keepdims)


def all(x: Any, /, *, axis: int | Sequence[int] | None = None, keepdims: builtins_bool = False) -> tf.Tensor:  # noqa: A001
    return tf.reduce_all(tf.cast(x, tf.bool), axis=_axes(axis), keepdims=keepdims)


def argmax(x: Any, /, *, axis: int | None = None, keepdims: builtins_bool = False) -> tf.Tensor:
    flat = axis is None
    out = tf.argmax(tf.reshape(x, [-1]) if flat else x, axis=0 if flat else axis, output_type=tf.int64)
    if keepdims:
        out = tf.reshape(out, [1] * len(x.shape)) if flat else tf.expand_dims(out, axis)
    return out


def argmin(x: Any, /, *, axis: int | None = None, keepdims: builtins_bool = False) -> tf.Tensor:
    flat = axis is None
    out = tf.argmin(tf.reshape(x, [-1]) if flat else x, axis=0 if flat else axis, output_type=tf.int64)
    if keepdims:
        out = tf.reshape(out, [1] * len(x.shape)) if flat else tf.expand_dims(out, axis)
    return out


def cumulative_sum(x: Any, /, *, axis: int | None = None, dtype: Any = None,
                   include_initial: builtins_bool = False) -> tf.Tensor:
    if dtype is not None:
        x = tf.cast(x, tf.as_dtype(dtype))
    axis = 0 if axis is None else axis
    out = tf.cumsum(x, axis=axis)
    if include_initial:
        pad_shape = list(x.shape)
        pad_shape[axis] = 1
        out = tf.concat([tf.zeros(pad_shape, dtype=out.dtype), out], axis=axis)
    return out


# --------------------------------------------------------------------------- manipulation
def reshape(x: Any, /, shape: Sequence[int], *, copy: builtins_bool | None = None) -> tf.Tensor:
    return tf.reshape(x, list(shape))


def permute_dims(x: Any, /, axes: Sequence[int]) -> tf.Tensor:
    return tf.transpose(x, perm=list(axes))


def matrix_transpose(x: Any, /) -> tf.Tensor:
    return tf.linalg.matrix_transpose(x)


def expand_dims(x: Any, /, *, axis: int = 0) -> tf.Tensor:
    return tf.expand_dims(x, axis)


def squeeze(x: Any, /, axis: int | Sequence[int]) -> tf.Tensor:
    return tf.squeeze(x, axis=_axes(axis))


def flip(x: Any, /, *, axis: int | Sequence[int] | None = None) -> tf.Tensor:
    if axis is None:
        axis = list(range(len(x.shape)))
    return tf.reverse(x, axis=_axes(axis) if isinstance(axis, (tuple, list)) else [axis])


def broadcast_to(x: Any, /, shape: Sequence[int]) -> tf.Tensor:
    return tf.broadcast_to(x, list(shape))


def broadcast_arrays(*arrays: Any) -> list[tf.Tensor]:
    shape = tf.TensorShape([])
    for a in arrays:
        shape = tf.broadcast_static_shape(shape, tf.TensorShape(a.shape))
    return [tf.broadcast_to(a, shape) for a in arrays]


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


def take_along_axis(x: Any, indices: Any, /, *, axis: int = -1) -> tf.Tensor:
    axis = axis % len(x.shape)
    return tf.gather(x, indices, axis=axis, batch_dims=axis)


def tile(x: Any, repetitions: Sequence[int], /) -> tf.Tensor:
    reps = list(repetitions)
    if len(reps) < len(x.shape):
        reps = [1] * (len(x.shape) - len(reps)) + reps
    elif len(reps) > len(x.shape):
        x = tf.reshape(x, [1] * (len(reps) - len(x.shape)) + list(x.shape))
    return tf.tile(x, reps)


def repeat(x: Any, repeats: int | Any, /, *, axis: int | None = None) -> tf.Tensor:
    return tf.repeat(x, repeats, axis=axis)


def sort(x: Any, /, *, axis: int = -1, descending: builtins_bool = False, stable: builtins_bool = True) -> tf.Tensor:
    return tf.sort(x, axis=axis, direction="DESCENDING" if descending else "ASCENDING")


def argsort(x: Any, /, *, axis: int = -1, descending: builtins_bool = False,
            stable: builtins_bool = True) -> tf.Tensor:
    return tf.cast(tf.argsort(x, axis=axis, direction="DESCENDING" if descending else "ASCENDING",
                              stable=stable), tf.int64)


def nonzero(x: Any, /) -> tuple[tf.Tensor, ...]:
    idx = tf.where(tf.cast(x, tf.bool))
    return tuple(idx[:, i] for i in range(len(x.shape)))


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
    if not isinstance(axes, int):
        axes = [list(axes[0]), list(axes[1])]
    return tf.tensordot(a, b, axes=axes)


def vecdot(x1: Any, x2: Any, /, *, axis: int = -1) -> tf.Tensor:
    a, b = _promote(x1, x2)
    return tf.reduce_sum(tf.math.conj(a) * b, axis=axis)


def outer(x1: Any, x2: Any, /) -> tf.Tensor:
    a, b = _promote(x1, x2)
    return a[:, None] * b[None, :]


class linalg:  # noqa: N801 - the standard's extension name
    """The parts of the ``linalg`` extension the core may use."""

    matmul = staticmethod(matmul)
    tensordot = staticmethod(tensordot)
    vecdot = staticmethod(vecdot)
    outer = staticmethod(outer)
    matrix_transpose = staticmethod(matrix_transpose)


# --------------------------------------------------------------------------- registration
_registered = False


def register() -> None:
    """Register this namespace with ``glas_core`` for ``tf.Tensor`` inputs (idempotent)."""
    global _registered
    if _registered:
        return
    import glas_core

    import sys

    glas_core.register_namespace(is_tf_tensor, sys.modules[__name__], device=device, to_numpy=to_numpy)
    _registered = True
