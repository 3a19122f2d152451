"""Validation of what Keras users pass to :mod:`glas_adapters.tf`: images, targets and model outputs.

Framework-free on purpose (NumPy plus shape/dtype attributes), so the same checks serve the
TensorFlow path and the NumPy path used for Keras 3 on other backends.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from glas_core.errors import fail

#: channel counts that, seen on axis 1 of a 4-D batch (axis 0 of one image), mark channels-first data
CHANNELS_FIRST_SIZES = (1, 3, 4)
#: the largest channel count a channels-last image may have before axis 1 is suspected as channels
MAX_LAST_AXIS_FOR_CHANNELS_FIRST_CHECK = 4


def image_shape(images: Any) -> tuple[tuple[int, ...], bool]:
    """Check the layout of ``images`` and return ``((N, H, W, C), single)``.

    ``images`` is a channels-last batch ``(N, H, W, C)`` or one image ``(H, W, C)``
    (``single=True``).  Channels-first data is refused with this rule: the last axis is
    longer than 4 while the channel position of channels-first layout (axis 1 of a batch,
    axis 0 of one image) holds 1, 3 or 4, e.g. ``(8, 3, 32, 32)``.
    """
    shape = tuple(int(s) for s in getattr(images, "shape", np.shape(images)))
    if len(shape) not in (3, 4):
        raise fail("images", f"an array of shape {shape} (rank {len(shape)})",
                   "a channels-last batch (N, H, W, C) or one image (H, W, C)",
                   "add a channel axis to grey images (images[..., None]) and a batch axis with images[None] "
                   "if needed")
    single = len(shape) == 3
    batch_shape = (1, *shape) if single else shape
    channel_first_axis = 1
    if batch_shape[-1] > MAX_LAST_AXIS_FOR_CHANNELS_FIRST_CHECK and batch_shape[channel_first_axis] in CHANNELS_FIRST_SIZES:
        layout = "(C, H, W)" if single else "(N, C, H, W)"
        fix = "np.transpose(images, (1, 2, 0))" if single else "np.transpose(images, (0, 2, 3, 1))"
        raise fail("images", f"shape {shape}, which looks channels-first {layout} ({batch_shape[channel_first_axis]} "
                             f"on the channel axis of that layout, {batch_shape[-1]} on the last axis)",
                   "channels-last (N, H, W, C), the layout Keras models take", f"transpose them with {fix}")
    if 0 in batch_shape:
        raise fail("images", f"an empty array of shape {shape}", "at least one image of at least 1x1 pixels",
                   "pass non-empty images")
    dtype = np.dtype(getattr(getattr(images, "dtype", None), "as_numpy_dtype", getattr(images, "dtype", np.float32)))
    if not (np.issubdtype(dtype, np.floating) or np.issubdtype(dtype, np.integer)):
        raise fail("images", f"dtype {dtype}", "real numbers (a float or integer dtype)",
                   "cast them with images.astype('float32')")
    return batch_shape, single


def class_indices(targets: Any, n_images: int, n_outputs: int, predicted: np.ndarray,
                  name: str = "targets") -> np.ndarray:
    """Resolve ``targets`` to class indices per image and check them against the model's outputs.

    Parameters
    ----------
    targets
        None (the predicted class of each image), an int (the same class for all images),
        a sequence / 1-D array of ``n_images`` ints, or an ``(n_images, T)`` nested sequence /
        2-D array of T classes per image (all T explained in one sweep).
    n_images
        Number of images explained.
    n_outputs
        Width of the model's output (number of classes; 1 for a single-output binary model).
    predicted
        ``(n_images,)`` argmax of the clean outputs, used when ``targets`` is None.
    name
        The argument's name in messages (``class_index`` when the caller used that alias).

    Returns
    -------
    numpy.ndarray
        ``(n_images,)`` or, for a 2-D ``targets``, ``(n_images, T)`` int64 indices.
    """
    expected = "an int, one int per image, an (N, T) array of T classes per image, or None"
    if targets is None:
        return np.asarray(predicted, dtype=np.int64)
    if isinstance(targets, (bool, np.bool_)):
        raise fail(name, f"the bool {targets}", expected, f"pass a class index, e.g. {name}=0")
    if np.ndim(targets) == 0:
        try:
            indices = np.full(n_images, int(targets), dtype=np.int64)
        except (TypeError, ValueError):
            raise fail(name, targets, expected, f"pass a class index, e.g. {name}=0") from None
        if indices[0] != targets:
            raise fail(name, targets, "a whole number", f"pass a class index, e.g. {name}={int(indices[0])}")
    else:
        values = np.asarray(targets)
        if values.ndim not in (1, 2) or values.shape[0] != n_images or values.size == 0:
            raise fail(name, f"shape {values.shape} for {n_images} image(s)", expected,
                       f"pass a list of {n_images} ints (or {n_images} lists of classes), one per image")
        if not np.issubdtype(values.dtype, np.integer):
            raise fail(name, f"dtype {values.dtype} ({_preview(values)})", "ints", "pass class indices as ints")
        indices = values.astype(np.int64)
    bad = (indices < 0) | (indices >= n_outputs)
    if bad.any():
        fix = ("a single-output sigmoid model is explained with class 0" if n_outputs == 1
               else "pick classes the model outputs")
        raise fail(name, f"{_preview(np.unique(indices[bad]))}, out of range for a model with {n_outputs} output(s)",
                   f"class indices in 0..{n_outputs - 1}", fix)
    return indices


def check_output_shape(outputs: Any, n_rows: int) -> None:
    """Refuse model outputs that are not one ``(n_rows, K)`` (or ``(n_rows,)``) array of scores."""
    if isinstance(outputs, (dict, list, tuple)):
        raise fail("model output", f"a {type(outputs).__name__}", "one (N, num_classes) tensor",
                   "wrap the model so that it returns the classification head only")
    shape = tuple(outputs.shape)
    if len(shape) not in (1, 2) or shape[0] != n_rows:
        raise fail("model output", f"shape {shape} for {n_rows} image(s)",
                   "(N, num_classes) scores, one row per image",
                   "wrap the model so that it returns one row of class scores per image")


def check_outputs(outputs: Any, n_rows: int) -> np.ndarray:
    """Check raw model outputs of ``n_rows`` images and return them as finite ``(n_rows, K)`` NumPy."""
    check_output_shape(outputs, n_rows)
    arr = np.asarray(outputs)
    if arr.ndim == 1:
        arr = arr[:, None]
    if not np.all(np.isfinite(arr)):
        raise fail("model output", "non-finite scores (NaN or inf) on the clean images", "finite scores",
                   "check the inputs and the model's preprocessing")
    return arr


def _preview(values: Sequence[Any] | np.ndarray, limit: int = 5) -> str:
    values = list(np.asarray(values).ravel())
    text = ", ".join(str(v) for v in values[:limit])
    return f"[{text}{', ...' if len(values) > limit else ''}]"
