"""Validation of what Keras users pass to :mod:`glas_adapters.tf`: images and class indices.

Framework-free on purpose (NumPy plus shape/dtype attributes), so the same checks serve the
TensorFlow path and the NumPy path used for Keras 3 on other backends.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from glas_core import GLASError

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
        raise GLASError(
            f"images must be a channels-last batch (N, H, W, C) or one image (H, W, C); got an array "
            f"of shape {shape} (rank {len(shape)}). Add a channel axis to grey images "
            f"(images[..., None]) and a batch axis with images[None] if needed."
        )
    single = len(shape) == 3
    batch_shape = (1, *shape) if single else shape
    channel_first_axis = 1
    if batch_shape[-1] > MAX_LAST_AXIS_FOR_CHANNELS_FIRST_CHECK and batch_shape[channel_first_axis] in CHANNELS_FIRST_SIZES:
        layout = "(C, H, W)" if single else "(N, C, H, W)"
        fix = "np.transpose(images, (1, 2, 0))" if single else "np.transpose(images, (0, 2, 3, 1))"
        raise GLASError(
            f"images look channels-first {layout}: shape {shape} has {batch_shape[channel_first_axis]} "
            f"on the channel axis of that layout and {batch_shape[-1]} on the last axis. Keras models "
            f"take channels-last (N, H, W, C) images; transpose them with {fix}."
        )
    if batch_shape[0] == 0 or batch_shape[1] == 0 or batch_shape[2] == 0 or batch_shape[3] == 0:
        raise GLASError(f"images must not be empty; got shape {shape}. Pass at least one image of at least 1x1 pixels.")
    dtype = np.dtype(getattr(getattr(images, "dtype", None), "as_numpy_dtype", getattr(images, "dtype", np.float32)))
    if not (np.issubdtype(dtype, np.floating) or np.issubdtype(dtype, np.integer)):
        raise GLASError(f"images must hold real numbers; got dtype {dtype}. Cast them with images.astype('float32').")
    return batch_shape, single


def class_indices(class_index: Any, n_images: int, n_outputs: int, predicted: np.ndarray) -> np.ndarray:
    """Resolve ``class_index`` to one int per image and check it against the model's outputs.

    Parameters
    ----------
    class_index
        ``None`` (the predicted class of each image), an int (the same class for all images),
        a sequence / 1-D array of ``n_images`` ints, or an ``(n_images, T)`` nested sequence /
        2-D array of T classes per image (all T explained in one sweep).

    Returns
    -------
    numpy.ndarray
        ``(n_images,)`` or, for a 2-D ``class_index``, ``(n_images, T)`` int64 indices.
    n_images
        Number of images explained.
    n_outputs
        Width of the model's output (number of classes; 1 for a single-output binary model).
    predicted
        ``(n_images,)`` argmax of the clean outputs, used when ``class_index`` is None.
    """
    if class_index is None:
        return np.asarray(predicted, dtype=np.int64)
    if isinstance(class_index, (bool, np.bool_)):
        raise GLASError(f"class_index must be an int, one int per image or None; got the bool {class_index}.")
    if np.ndim(class_index) == 0:
        try:
            indices = np.full(n_images, int(class_index), dtype=np.int64)
        except (TypeError, ValueError):
            raise GLASError(
                f"class_index must be an int, one int per image or None; got {class_index!r}."
            ) from None
        if indices[0] != class_index:
            raise GLASError(f"class_index must be a whole number; got {class_index!r}.")
    else:
        values = np.asarray(class_index)
        if values.ndim not in (1, 2) or values.shape[0] != n_images or values.size == 0:
            raise GLASError(
                f"class_index must be an int, one int per image, an (N, T) array of T classes per image or "
                f"None; got shape {values.shape} for {n_images} image(s). Pass a list of {n_images} ints "
                f"(or {n_images} lists of classes)."
            )
        if not np.issubdtype(values.dtype, np.integer):
            raise GLASError(f"class_index must hold ints; got dtype {values.dtype} ({_preview(values)}).")
        indices = values.astype(np.int64)
    bad = (indices < 0) | (indices >= n_outputs)
    if bad.any():
        raise GLASError(
            f"class_index out of range: got {_preview(np.unique(indices[bad]))} but the model has {n_outputs} "
            f"output(s), so valid indices are 0..{n_outputs - 1}"
            + (" (a single-output sigmoid model is explained with class_index=0)." if n_outputs == 1 else ".")
        )
    return indices


def check_outputs(outputs: Any, n_rows: int) -> np.ndarray:
    """Check raw model outputs of ``n_rows`` images and return them as ``(n_rows, K)`` NumPy."""
    if isinstance(outputs, (dict, list, tuple)):
        raise GLASError(
            f"the model returned a {type(outputs).__name__}; GLAS needs one (N, num_classes) tensor. "
            f"Wrap the model so that it returns the classification head only."
        )
    arr = np.asarray(outputs)
    if arr.ndim == 1 and arr.shape[0] == n_rows:
        arr = arr[:, None]
    if arr.ndim != 2 or arr.shape[0] != n_rows:
        raise GLASError(
            f"the model must return (N, num_classes) scores; for {n_rows} image(s) it returned shape "
            f"{arr.shape}. Wrap it so that it returns one row of class scores per image."
        )
    if not np.all(np.isfinite(arr)):
        raise GLASError("the model returned non-finite scores (NaN or inf) on the clean images; check the inputs "
                        "and the model's preprocessing.")
    return arr


def _preview(values: Sequence[Any] | np.ndarray, limit: int = 5) -> str:
    values = list(np.asarray(values).ravel())
    text = ", ".join(str(v) for v in values[:limit])
    return f"[{text}{', ...' if len(values) > limit else ''}]"
