"""Namespace, device and dtype helpers: the only module that knows array backends.

Arrays are resolved with ``array-api-compat``. Backends it cannot take (TensorFlow)
register a shim namespace with :func:`register_namespace`. No framework is ever
imported here: backends are recognised through ``array_api_compat``'s ``is_*``
helpers, which look at ``sys.modules`` only.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import array_api_compat
import numpy as np

from .errors import GLASError


@dataclass(frozen=True)
class _Shim:
    is_array: Callable[[Any], bool]
    namespace: Any
    device: Callable[[Any], Any]
    to_numpy: Callable[[Any], np.ndarray]


_SHIMS: list[_Shim] = []


def register_namespace(
    is_array: Callable[[Any], bool],
    namespace: Any,
    *,
    device: Callable[[Any], Any] = lambda a: a.device,
    to_numpy: Callable[[Any], np.ndarray] = np.asarray,
) -> None:
    """Register an array-API namespace shim for arrays ``array-api-compat`` cannot take.

    Parameters
    ----------
    is_array : callable
        Returns True for arrays of the shimmed backend (it must not import the backend).
    namespace : object
        Module-like object with the array-API functions ``glas_core`` uses.
    device : callable, optional
        Returns the device of an array of that backend.
    to_numpy : callable, optional
        Copies an array of that backend to a NumPy array.
    """
    _SHIMS[:] = [s for s in _SHIMS if s.namespace is not namespace]
    _SHIMS.append(_Shim(is_array, namespace, device, to_numpy))


def _shim_for(x: Any) -> _Shim | None:
    for shim in _SHIMS:
        if shim.is_array(x):
            return shim
    return None


def namespace_of(x: Any) -> Any:
    """Return the array-API namespace of ``x`` or raise :class:`GLASError`."""
    shim = _shim_for(x)
    if shim is not None:
        return shim.namespace
    try:
        return array_api_compat.array_namespace(x)
    except TypeError:
        raise GLASError(
            f"x must be an array of an array-API backend (NumPy, PyTorch, CuPy, JAX, "
            f"array-api-strict or a registered shim), got {type(x).__name__}; convert it "
            f"first, e.g. numpy.asarray(x, dtype=numpy.float32)"
        ) from None


def device_of(x: Any) -> Any:
    """Return the device ``x`` lives on."""
    shim = _shim_for(x)
    if shim is not None:
        return shim.device(x)
    return array_api_compat.device(x)


def to_numpy(a: Any) -> np.ndarray:
    """Copy any supported array to a host NumPy array (bfloat16 becomes float32)."""
    shim = _shim_for(a)
    if shim is not None:
        return np.asarray(shim.to_numpy(a))
    if isinstance(a, (np.ndarray, np.generic, list, tuple, float, int)):
        return np.asarray(a)
    if array_api_compat.is_torch_array(a):
        a = a.detach().cpu()
        if str(a.dtype) == "torch.bfloat16":  # NumPy has no bfloat16
            a = a.float()
        return a.numpy()
    if array_api_compat.is_cupy_array(a):
        return a.get()
    if type(a).__module__.startswith("array_api_strict"):
        xp = array_api_compat.array_namespace(a)
        return np.from_dlpack(xp.asarray(a, device=xp.Device("CPU_DEVICE")))
    return np.asarray(a)


def no_grad_context(x: Any) -> Any:
    """A context that stops autograd from recording the sweep, for frameworks that record by default.

    PyTorch records every operation on tensors that require grad; a GLAS sweep over such an
    input (or a model with trainable weights) would otherwise keep every chunk's graph alive.
    torch is taken from ``sys.modules``: it is loaded whenever ``x`` is a torch tensor.
    """
    if array_api_compat.is_torch_array(x):
        return sys.modules["torch"].no_grad()
    return contextlib.nullcontext()


def is_real_floating(xp: Any, dtype: Any) -> bool:
    """True if ``dtype`` is a real floating dtype of ``xp`` (float16/bfloat16 included)."""
    try:
        return bool(xp.isdtype(dtype, "real floating"))
    except (TypeError, ValueError, AttributeError):
        return "float" in str(dtype)


def score_dtype(xp: Any, dtype: Any) -> Any:
    """Dtype used for scores and fusion: float64 stays float64, anything else is float32.

    Half-precision inputs keep their dtype for masks and perturbed batches (that is what
    the model sees) but scores are accumulated in float32 so Eq. 3 does not lose the small
    differences between shadow scores.
    """
    return xp.float64 if dtype == xp.float64 else xp.float32
