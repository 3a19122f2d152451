"""Keras-native GLAS tools: a tf-explain style explainer, an Xplique style explainer and a
TensorBoard callback.  All of them call :func:`glas_adapters.tf.explain`.
"""

from __future__ import annotations

import math
import os
from typing import Any, Sequence

import keras
import numpy as np

from glas_core import GLASError

from . import _tf_scoring

#: weight of the image in an overlay (tf-explain's default ``image_weight``)
DEFAULT_IMAGE_WEIGHT = 0.7


# ------------------------------------------------------------------------------ overlays
def jet(values: np.ndarray) -> np.ndarray:
    """The classic 'jet' colour map: values in [0, 1] -> float RGB in [0, 1] (last axis)."""
    v = np.clip(values, 0.0, 1.0)[..., None]
    centres = np.array([3.0, 2.0, 1.0])  # red, green, blue peak at 3/4, 1/2, 1/4
    return np.clip(1.5 - np.abs(4.0 * v - centres), 0.0, 1.0)


def _colorize(heat: np.ndarray, colormap: str) -> np.ndarray:
    if colormap == "jet":
        return jet(heat)
    try:
        from matplotlib import colormaps
    except ImportError:
        raise GLASError(f"colormap {colormap!r} needs matplotlib (pip install matplotlib); "
                        f"colormap='jet' works without it.") from None
    return colormaps[colormap](heat)[..., :3]


def _normalise(a: np.ndarray) -> np.ndarray:
    lo, hi = float(a.min()), float(a.max())
    return (a - lo) / (hi - lo) if hi > lo else np.zeros_like(a, dtype=np.float64)


def _display_rgb(image: np.ndarray) -> np.ndarray:
    """One (H, W, C) image min-max scaled to [0, 1] RGB (grey and alpha channels handled)."""
    image = _normalise(np.asarray(image, dtype=np.float64))
    if image.shape[-1] >= 3:
        return image[..., :3]
    return np.repeat(image[..., :1], 3, axis=-1)


def overlay(images: np.ndarray, maps: np.ndarray, *, colormap: str = "jet",
            image_weight: float = DEFAULT_IMAGE_WEIGHT) -> np.ndarray:
    """Blend min-max normalised heat maps over images: ``(N, H, W, C), (N, H, W) -> (N, H, W, 3)`` uint8.

    Each pixel is ``image_weight * image + (1 - image_weight) * colour(map)``.
    """
    if not 0.0 <= image_weight <= 1.0:
        raise GLASError(f"image_weight must be in [0, 1]; got {image_weight}. Use 0.7 (tf-explain's default).")
    out = []
    for image, heat in zip(images, maps):
        rgb = image_weight * _display_rgb(image) + (1.0 - image_weight) * _colorize(_normalise(heat), colormap)
        out.append(np.round(255.0 * rgb).astype(np.uint8))
    return np.stack(out)


def grid_display(tiles: np.ndarray) -> np.ndarray:
    """Tile ``(N, H, W, 3)`` images in a near-square grid (row-major, black padding), as tf-explain does."""
    n, h, w, c = tiles.shape
    n_rows = math.ceil(math.sqrt(n))
    n_cols = math.ceil(n / n_rows)
    grid = np.zeros((n_rows * h, n_cols * w, c), dtype=tiles.dtype)
    for i, tile in enumerate(tiles):
        r, q = divmod(i, n_cols)
        grid[r * h:(r + 1) * h, q * w:(q + 1) * w] = tile
    return grid


def _images_of(validation_data: Any) -> Any:
    """tf-explain passes ``(images, labels)``; the labels are not needed."""
    if isinstance(validation_data, tuple):
        if len(validation_data) != 2:
            raise GLASError(f"validation_data must be images or an (images, labels) pair; got a tuple of "
                            f"{len(validation_data)} items.")
        return validation_data[0]
    return validation_data


def _host(images: Any) -> np.ndarray:
    return np.asarray(images.numpy() if hasattr(images, "numpy") and not isinstance(images, np.ndarray) else images)


# ------------------------------------------------------------------------------ tf-explain
class GLASExplainer:
    """GLAS with the tf-explain interface.

    >>> explainer = GLASExplainer()
    >>> grid = explainer.explain((images, None), model, class_index=3, grid=15)  # doctest: +SKIP
    >>> explainer.save(grid, "out", "glas.png")                                  # doctest: +SKIP
    """

    def explain(self, validation_data: Any, model: Any, class_index: int | Sequence[int] | None = None, *,
                colormap: str = "jet", image_weight: float = DEFAULT_IMAGE_WEIGHT, **glas_kwargs: Any) -> np.ndarray:
        """Overlay grid (uint8 RGB ``(rows * H, cols * W, 3)``) of the GLAS maps of the images.

        ``glas_kwargs`` go to :func:`glas_adapters.tf.explain` (grid, sigma, mode, ...).
        """
        from .tf import explain

        images = _images_of(validation_data)
        maps = explain(model, images, class_index, **glas_kwargs)
        host = _host(images)
        if host.ndim == 3:
            host, maps = host[None], maps[None]
        return grid_display(overlay(host, maps, colormap=colormap, image_weight=image_weight))

    @staticmethod
    def save(grid: np.ndarray, output_dir: str | os.PathLike[str], output_name: str) -> str:
        """Write ``grid`` as a PNG to ``output_dir/output_name`` (directories created); returns the path."""
        grid = np.asarray(grid)
        if grid.dtype != np.uint8 or grid.ndim != 3 or grid.shape[-1] not in (1, 3, 4):
            raise GLASError(f"grid must be a uint8 (H, W, 3) image as returned by explain(); got dtype "
                            f"{grid.dtype} and shape {grid.shape}.")
        os.makedirs(output_dir, exist_ok=True)
        path = os.path.join(os.fspath(output_dir), output_name)
        if _tf_scoring.tf is not None:
            tf = _tf_scoring.tf
            tf.io.write_file(path, tf.io.encode_png(grid))
        else:
            from matplotlib import image as mpl_image

            mpl_image.imsave(path, grid)
        return path


# ------------------------------------------------------------------------------ Xplique
class GLAS:
    """GLAS with the Xplique interface: ``GLAS(model)(inputs, targets) -> (N, H, W, 1)``.

    Parameters
    ----------
    model
        Keras model or callable, as in :func:`glas_adapters.tf.explain`.
    batch_size
        Most perturbed images per model call.
    **glas_kwargs
        Other arguments of :func:`glas_adapters.tf.explain` (grid, sigma, probabilities, ...).
    """

    def __init__(self, model: Any, batch_size: int = 64, **glas_kwargs: Any) -> None:
        for key in ("class_index", "return_result"):
            if key in glas_kwargs:
                raise GLASError(f"GLAS(...) does not take {key}=; pass the classes as targets to explain().")
        self.model = model
        self.batch_size = batch_size
        self.glas_kwargs = glas_kwargs

    def explain(self, inputs: Any, targets: Any = None) -> np.ndarray:
        """Maps ``(N, H, W, 1)`` for ``inputs`` ``(N, H, W, C)``.

        ``targets`` are Xplique's one-hot ``(N, num_classes)`` rows, integer classes ``(N,)``, or
        None for the predicted classes.
        """
        from .tf import explain

        if hasattr(inputs, "shape") and len(inputs.shape) == 3:
            raise GLASError(f"inputs must be a batch (N, H, W, C) as Xplique passes them; got shape "
                            f"{tuple(inputs.shape)}. Add a batch axis with inputs[None].")
        class_index = _class_index_from_targets(targets)
        maps = explain(self.model, inputs, class_index, batch_size=self.batch_size, **self.glas_kwargs)
        return maps[..., None].astype(np.float32)

    __call__ = explain


def _class_index_from_targets(targets: Any) -> Any:
    if targets is None:
        return None
    targets = _host(targets)
    if targets.ndim == 1:
        return targets.astype(np.int64) if np.issubdtype(targets.dtype, np.integer) else targets
    if targets.ndim != 2:
        raise GLASError(f"targets must be one-hot (N, num_classes) or class indices (N,); got shape {targets.shape}.")
    n_hot = np.count_nonzero(targets, axis=1)
    if np.any(n_hot != 1):
        raise GLASError(f"targets must have exactly one non-zero entry per row (one class per image); got rows with "
                        f"{sorted(set(int(k) for k in n_hot))} non-zero entries. Explain one class at a time.")
    return np.argmax(targets, axis=1)


# ------------------------------------------------------------------------------ TensorBoard
#: TensorBoard tag of the overlays written by :class:`GLASCallback`
SUMMARY_TAG = "GLAS"


def write_image_summary(tag: str, image: np.ndarray, step: int) -> None:
    """Write one uint8 RGB image to the default summary writer, readable by TensorBoard's Images tab.

    This is the record ``tf.summary.image`` writes (a string tensor ``[width, height, png]`` with
    the ``images`` plugin metadata), made with TensorFlow alone: ``tf.summary.image`` needs the
    ``tensorboard`` package, which TensorFlow 2.21 no longer installs.
    """
    tf = _tf_scoring.tf
    metadata = tf.compat.v1.SummaryMetadata(display_name=tag, summary_description="GLAS saliency overlays")
    metadata.plugin_data.plugin_name = "images"
    height, width = image.shape[:2]
    tensor = tf.stack([tf.constant(str(width)), tf.constant(str(height)), tf.io.encode_png(image)])
    tf.summary.write(tag, tensor, step=step, metadata=metadata)


class GLASCallback(keras.callbacks.Callback):
    """Write GLAS overlay grids of ``validation_data`` to TensorBoard during ``fit``.

    Parameters
    ----------
    validation_data
        Images ``(N, H, W, C)`` or an ``(images, labels)`` pair (labels unused).
    class_index
        Class(es) to explain, as in :func:`glas_adapters.tf.explain`; None for the predicted ones.
    log_dir
        TensorBoard log directory; images go under the tag ``"GLAS"`` at step ``epoch``
        (the tensorboard package is not needed to write them).
    every_n_epochs
        Write after every n-th epoch (epochs n - 1, 2n - 1, ... counted from 0).
    **glas_kwargs
        Arguments of :func:`glas_adapters.tf.explain` and ``colormap`` / ``image_weight``.
    """

    def __init__(self, validation_data: Any, class_index: int | Sequence[int] | None = None,
                 log_dir: str | os.PathLike[str] = "logs", every_n_epochs: int = 1, **glas_kwargs: Any) -> None:
        super().__init__()
        if _tf_scoring.tf is None:
            raise GLASError("GLASCallback writes TensorBoard summaries with tf.summary and needs TensorFlow; "
                            "install it with pip install 'glas[tf]'.")
        if not isinstance(every_n_epochs, int) or isinstance(every_n_epochs, bool) or every_n_epochs < 1:
            raise GLASError(f"every_n_epochs must be a positive int; got {every_n_epochs!r}. Use every_n_epochs=1.")
        self.validation_data = validation_data
        self.class_index = class_index
        self.log_dir = os.fspath(log_dir)
        self.every_n_epochs = every_n_epochs
        self.glas_kwargs = glas_kwargs
        self._writer: Any = None

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if (epoch + 1) % self.every_n_epochs:
            return
        tf = _tf_scoring.tf
        grid = GLASExplainer().explain(self.validation_data, self.model, self.class_index, **self.glas_kwargs)
        if self._writer is None:
            self._writer = tf.summary.create_file_writer(self.log_dir)
        with self._writer.as_default():
            write_image_summary(SUMMARY_TAG, grid, step=epoch)
        self._writer.flush()

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
