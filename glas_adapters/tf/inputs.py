"""Validation of what Keras users pass to :mod:`glas_adapters.tf`: images, series, targets and model outputs.

A Keras model whose one input has rank 3, ``(None, T, C)``, takes channels-last series: its
``(N, T, C)`` batches are explained along T (one spatial axis). Every other model takes
``(N, H, W, C)`` images; a plain callable is always given images.

Framework-free on purpose (NumPy plus shape/dtype attributes), so the same checks serve the
TensorFlow path and the NumPy path used for Keras 3 on other backends.
"""

from __future__ import annotations

from typing import Any

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
    if (batch_shape[-1] > MAX_LAST_AXIS_FOR_CHANNELS_FIRST_CHECK
            and batch_shape[channel_first_axis] in CHANNELS_FIRST_SIZES):
        layout = "(C, H, W)" if single else "(N, C, H, W)"
        fix = "np.transpose(images, (1, 2, 0))" if single else "np.transpose(images, (0, 2, 3, 1))"
        raise fail("images", f"shape {shape}, which looks channels-first {layout} ({batch_shape[channel_first_axis]} "
                             f"on the channel axis of that layout, {batch_shape[-1]} on the last axis)",
                   "channels-last (N, H, W, C), the layout Keras models take", f"transpose them with {fix}")
    if 0 in batch_shape:
        raise fail("images", f"an empty array of shape {shape}", "at least one image of at least 1x1 pixels",
                   "pass non-empty images")
    dtype = dtype_name(images)
    if dtype.startswith(("int", "uint")):
        raise fail("images", f"dtype {dtype}", "floating-point images, scaled as the model was trained",
                   "convert them, e.g. images.astype('float32') / 255 for 8-bit images")
    if not dtype.startswith(("float", "bfloat")):
        raise fail("images", f"dtype {dtype}", "floating-point images", "cast them with images.astype('float32')")
    return batch_shape, single


def model_input_shape(model: Any) -> tuple[Any, ...] | None:
    """The input shape of a Keras model with one input (``(None, T, C)``, ``(None, H, W, C)``), else None."""
    try:
        inputs = list(getattr(model, "inputs", None) or [])
    except (AttributeError, ValueError):  # a subclassed model that was never called has none
        return None
    return tuple(inputs[0].shape) if len(inputs) == 1 else None


def takes_series(model: Any) -> bool:
    """Whether a Keras model's one input is a channels-last series ``(N, T, C)`` (rank 3)."""
    shape = model_input_shape(model)
    return shape is not None and len(shape) == 3


def series_shape(series: Any, model_shape: tuple[Any, ...]) -> tuple[tuple[int, ...], bool]:
    """Check a channels-last series batch ``(N, T, C)`` or one series ``(T, C)``; return ``((N, T, C), single)``.

    ``model_shape`` is the model's input shape ``(None, T, C)``. A series in ``(N, C, T)`` (torch's
    layout) is refused where the model's channel count is on axis 1 and not on the last axis.
    """
    shape = tuple(int(s) for s in getattr(series, "shape", np.shape(series)))
    if len(shape) not in (2, 3):
        raise fail("images", f"an array of shape {shape} (rank {len(shape)}) for a model taking series "
                   f"{model_shape}", "a channels-last batch of series (N, T, C) or one series (T, C)",
                   "add a channel axis to one-channel series (x[..., None]) and a batch axis with x[None] if needed")
    single = len(shape) == 2
    batch_shape = (1, *shape) if single else shape
    want_t, want_c = model_shape[1], model_shape[2]
    if want_c is not None and batch_shape[2] != int(want_c) and batch_shape[1] == int(want_c):
        fix = "np.transpose(x, (1, 0))" if single else "np.transpose(x, (0, 2, 1))"
        raise fail("images", f"shape {shape}, whose axis of {int(want_c)} (the model's channels) comes before its "
                   f"last axis of {batch_shape[2]}: a channels-first (N, C, T) series",
                   f"a channels-last (N, T, C) series, the layout of the model's input {model_shape}",
                   f"transpose it with {fix}")
    for axis, what, want in ((2, "channels", want_c), (1, "time steps", want_t)):
        if want is not None and int(want) != batch_shape[axis]:
            raise fail("images", f"{batch_shape[axis]} {what} (shape {batch_shape})",
                       f"{int(want)} {what}, as the model's input shape {model_shape} says",
                       f"give the model series of its input shape {model_shape}")
    if 0 in batch_shape:
        raise fail("images", f"an empty array of shape {shape}", "at least one series of at least one step",
                   "pass non-empty series")
    dtype = dtype_name(series)
    if not dtype.startswith(("float", "bfloat")):
        raise fail("images", f"dtype {dtype}", "a floating-point series", "cast it with x.astype('float32')")
    return batch_shape, single


def dtype_name(images: Any) -> str:
    """The dtype of a NumPy, TensorFlow, JAX or torch array as a name (``"float32"``, ``"uint8"``)."""
    dtype = getattr(images, "dtype", None)
    if dtype is None:
        return np.asarray(images).dtype.name
    name = getattr(dtype, "name", None)
    return str(name if isinstance(name, str) else dtype).replace("torch.", "")


def as_images(images: Any) -> Any:
    """A list or tuple of equally shaped images as one NumPy batch; arrays are returned as they are."""
    if not isinstance(images, (list, tuple)):
        return images
    if not images:
        raise fail("images", f"an empty {type(images).__name__}", "at least one image", "pass one or more images")
    shapes = [tuple(int(s) for s in getattr(im, "shape", np.shape(im))) for im in images]
    if len(set(shapes)) > 1:
        shown = ", ".join(str(s) for s in shapes[:4]) + (", ..." if len(shapes) > 4 else "")
        raise fail("images", f"a {type(images).__name__} of {len(images)} arrays of different shapes ({shown})",
                   "images of one size, as one (N, H, W, C) array", "resize them to one size and stack them "
                   "(np.stack), or explain each image on its own; a model with several inputs must be wrapped "
                   "in a function of the image batch alone")
    from glas_adapters.tf.frameworks import to_host

    return np.stack([to_host(im) for im in images])


def check_model_inputs(model: Any, batch_shape: tuple[int, ...]) -> None:
    """Refuse a Keras model with several inputs, or whose input shape the images do not fit."""
    try:
        inputs = list(getattr(model, "inputs", None) or [])
    except (AttributeError, ValueError):  # a subclassed model that was never called has none
        return
    if len(inputs) > 1:
        names = ", ".join(repr(getattr(t, "name", "?")) for t in inputs)
        raise fail("model", f"a Keras model with {len(inputs)} inputs ({names})", "a model with one image input",
                   "wrap it in a function of the image batch alone, e.g. "
                   "lambda x: model([x, keras.ops.repeat(other[None], x.shape[0], axis=0)])")
    if len(inputs) != 1:
        return
    expected = tuple(inputs[0].shape)
    if len(expected) != 4:
        raise fail("model", f"a Keras model whose input has shape {expected}", "a model taking (N, H, W, C) images",
                   "explain an image classifier, or wrap the model in a function of (N, H, W, C) batches")
    for axis, what in ((3, "channels"), (1, "rows"), (2, "columns")):
        want, got = expected[axis], batch_shape[axis]
        if want is not None and int(want) != got:
            fix = ("drop the alpha channel with images[..., :3]" if (got, want) == (4, 3) else
                   "repeat a grey channel with np.repeat(images, 3, axis=-1)" if (got, want) == (1, 3) else
                   f"give the model images of its input shape {expected}")
            if axis != 3:
                fix = f"resize the images to {expected[1]} x {expected[2]} pixels"
            raise fail("images", f"{got} {what} (shape {batch_shape})",
                       f"{int(want)} {what}, as the model's input shape {expected} says", fix)
