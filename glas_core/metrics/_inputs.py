"""Reading the metrics' inputs: any array glas_core supports, refused with a GLASError when unusable."""

from __future__ import annotations

from typing import Any

import numpy as np

from .._array_api import to_numpy
from ..errors import GLASError, fail


def as_numpy(a: Any, name: str) -> np.ndarray:
    """Any array glas_core reads, as a host NumPy array."""
    try:
        return np.asarray(to_numpy(a))
    except GLASError:
        raise
    except Exception as exc:  # unknown array type
        raise fail(name, type(a).__name__, "a NumPy array or an array glas_core supports (torch, CuPy, JAX, ...)",
                   "pass numpy.asarray(...) of it") from exc


def saliency_map(saliency, name: str = "saliency", ndim: int | None = None) -> np.ndarray:
    """Read a saliency map; a leading axis of size 1 (one target of a GLASResult) is dropped."""
    s = as_numpy(saliency, name).astype(np.float64)
    if ndim is not None and s.ndim == ndim + 1 and s.shape[0] == 1:
        s = s[0]
    if s.ndim < 1 or s.size == 0:
        raise GLASError(f"{name} must be a non-empty map, got shape {s.shape}; pass one (H, W) map")
    if ndim is not None and s.ndim != ndim:
        raise fail(name, f"shape {s.shape}", f"a map with {ndim} spatial axes, like the ground truth",
                   "pass one map per image, e.g. result.saliency[t] for target t")
    if not np.all(np.isfinite(s)):
        raise fail(name, "a map containing NaN or inf", "finite values", "pass a finite map")
    return s


def boolean_mask(target, name: str = "target") -> np.ndarray:
    m = as_numpy(target, name)
    if m.dtype != bool:
        if not np.all(np.isin(m, (0, 1))):
            raise fail(name, f"dtype {m.dtype} with values other than 0 and 1", "a boolean mask (or 0/1 values)",
                       "turn boxes into masks with glas_core.metrics.box_to_mask(box, shape)")
        m = m.astype(bool)
    return m



def same_shape(s: np.ndarray, shape: tuple[int, ...], what: str, fix: str) -> None:
    """Refuse a map whose shape differs from ``shape``."""
    if s.shape != tuple(shape):
        raise fail("saliency", f"shape {s.shape}", f"the shape of {what}, {tuple(shape)}", fix)
