"""Validation of the images users pass to :mod:`glas_adapters.onnx`, in the model's layout.

Images come in the layout the model takes, as they would be fed to ``session.run``: a batch
``(N, C, H, W)`` or ``(N, H, W, C)``, or one image without the batch axis.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from glas_adapters.onnx.session import LAYOUTS, Signature, layout_from_dims
from glas_core.errors import fail, quoted

_TO_NHWC, _TO_NCHW = (0, 2, 3, 1), (0, 3, 1, 2)


@dataclass(frozen=True)
class Images:
    """Checked images: ``batch`` is ``(N, ...)`` in the model's layout and the core's dtype.

    Attributes
    ----------
    batch : numpy.ndarray
        The images, float32 (float64 for a float64 model); a copy, never the caller's array.
    layout : str
        "NCHW" or "NHWC".
    single : bool
        The caller passed one image without a batch axis.
    """

    batch: np.ndarray
    layout: str
    single: bool

    @property
    def spatial_axes(self) -> tuple[int, int]:
        """The spatial axes of one image: (1, 2) of ``(C, H, W)``, (0, 1) of ``(H, W, C)``."""
        return (1, 2) if self.layout == "NCHW" else (0, 1)

    @property
    def spatial_shape(self) -> tuple[int, int]:
        shape = self.batch.shape[1:]
        return (shape[1], shape[2]) if self.layout == "NCHW" else (shape[0], shape[1])


def check_images(images: Any, signature: Signature, layout: str | None) -> Images:
    """Check ``images`` against the model's input and return them as a float batch.

    Parameters
    ----------
    images
        ``(N, C, H, W)`` / ``(N, H, W, C)`` or one ``(C, H, W)`` / ``(H, W, C)`` image, in the
        model's layout; any real dtype (integers are cast, values unchanged).
    signature
        The model's input and output (:func:`~glas_adapters.onnx.session.signature_of`).
    layout
        "NCHW", "NHWC", or None to read it from the model (then from the images' shape).

    Raises
    ------
    GLASError
        Wrong rank, a dtype that is not real numbers, sizes the model does not take, or a
        layout that neither the model nor the images tell.
    """
    if layout is not None and layout not in LAYOUTS:
        raise fail("layout", quoted(layout), "'NCHW', 'NHWC' or None (read from the model)",
                   "pass layout='NCHW' (channels first) or layout='NHWC' (channels last)")
    if layout is not None and signature.layout not in (None, layout):
        raise fail("layout", f"{layout!r} for a model whose input {_model_shape(signature, signature.layout)} is "
                             f"{signature.layout}", f"{signature.layout!r} or None (read from the model)",
                   f"pass layout=None and images in {signature.layout} layout")
    try:
        arr = np.asarray(images)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise fail("images", f"a {type(images).__name__} that NumPy cannot read ({' '.join(str(exc).split())[:120]})",
                   "a NumPy array (or anything numpy.asarray takes)",
                   "convert them first, e.g. tensor.detach().cpu().numpy()") from None
    if arr.ndim not in (3, 4):
        raise fail("images", f"an array of shape {arr.shape} (rank {arr.ndim})",
                   "a batch (N, C, H, W) or (N, H, W, C) in the model's layout, or one image without N",
                   "add a batch axis with images[None] or a channel axis to grey images")
    if not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
        raise fail("images", f"dtype {arr.dtype}", "real numbers (a float or integer dtype)",
                   "cast them with images.astype('float32')")
    single = arr.ndim == 3
    batch = arr[None] if single else arr
    if 0 in batch.shape:
        raise fail("images", f"an empty array of shape {arr.shape}", "at least one image of at least 1x1 pixels",
                   "pass non-empty images")
    if np.issubdtype(batch.dtype, np.floating) and not np.all(np.isfinite(batch)):
        raise fail("images", "an array with NaN or inf values", "finite pixel values",
                   "replace them first, e.g. with np.nan_to_num(images)")
    layout = layout or signature.layout or _layout_from_images(batch.shape, single)
    _check_sizes(batch.shape, signature, layout, single)
    work = np.float64 if signature.dtype == np.float64 else np.float32
    return Images(np.array(batch, dtype=work, copy=True), layout, single)


def _layout_from_images(shape: tuple[int, ...], single: bool) -> str:
    found = layout_from_dims(shape)
    if found is None:
        shown = shape[1:] if single else shape
        raise fail("layout", f"None, for a model whose input axes are all dynamic and images of shape {shown}",
                   "'NCHW' or 'NHWC' when neither tells the layout", "pass layout='NCHW' or layout='NHWC'")
    return found


def _check_sizes(shape: tuple[int, ...], signature: Signature, layout: str, single: bool) -> None:
    """Refuse images whose channels or size differ from the model's fixed input dimensions."""
    got = dict(zip(layout[1:], shape[1:]))
    wanted = signature.fixed(layout)
    if all(got[axis] == size for axis, size in wanted.items()):
        return
    model_shape = _model_shape(signature, layout)
    shown = shape[1:] if single else shape
    # the axes that turn images of the other layout into this one: (N, H, W, C) -> (N, C, H, W) or back
    axes = _TO_NCHW if layout == "NCHW" else _TO_NHWC
    swapped = tuple(shape[a] for a in axes)
    if all(dict(zip(layout[1:], swapped[1:]))[a] == s for a, s in wanted.items()):
        shown_axes = tuple(a - 1 for a in axes[1:]) if single else axes
        fix = f"the images look {'NHWC' if layout == 'NCHW' else 'NCHW'}: transpose them with " \
              f"np.transpose(images, {shown_axes})"
    elif "C" in wanted and got["C"] != wanted["C"]:
        fix = f"pass images with {wanted['C']} channel(s) in {layout} layout"
    else:
        fix = f"resize the images to {wanted.get('H', 'H')}x{wanted.get('W', 'W')} pixels"
    raise fail("images", f"shape {shown}", f"{layout} images the model takes, {model_shape}", fix)


def _model_shape(signature: Signature, layout: str) -> str:
    """The model's input shape with its dynamic axes named by ``layout``, e.g. ``(N, 3, 224, 224)``."""
    return "(" + ", ".join(str(d) if d is not None else a for a, d in zip(layout, signature.dims)) + ")"
