"""Keras-native explainers: :class:`GLASExplainer` (tf-explain's interface) and :class:`GLAS` (Xplique's).

Both call :func:`glas_adapters.tf.explain`; they only translate the conventions of those
libraries (``validation_data`` and overlay grids, one-hot targets and ``(N, H, W, 1)`` maps).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from glas_adapters.tf.frameworks import like, to_host
from glas_adapters.tf.functional import explain
from glas_adapters.tf.overlay import DEFAULT_IMAGE_WEIGHT, encode_png, grid_display, overlay
from glas_core.errors import fail


def images_of(validation_data: Any) -> Any:
    """tf-explain passes ``(images, labels)``; the labels are not needed."""
    if isinstance(validation_data, tuple):
        if len(validation_data) != 2:
            raise fail("validation_data", f"a tuple of {len(validation_data)} items",
                       "images or an (images, labels) pair", "pass (images, None) or the images alone")
        return validation_data[0]
    return validation_data


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

        ``class_index`` is tf-explain's name for the classes (the ``targets`` of
        :func:`glas_adapters.tf.explain`); ``glas_kwargs`` go to that function (grid, sigma, mode, ...).
        """
        images = images_of(validation_data)
        maps = to_host(explain(model, images, class_index, **glas_kwargs))
        pixels = to_host(images)
        if pixels.ndim == 3:
            pixels, maps = pixels[None], maps[None]
        return grid_display(overlay(pixels, maps, colormap=colormap, image_weight=image_weight))

    @staticmethod
    def save(grid: np.ndarray, output_dir: str | os.PathLike[str], output_name: str) -> str:
        """Write ``grid`` as a PNG to ``output_dir/output_name`` (directories created); returns the path."""
        grid = np.asarray(grid)
        if grid.dtype != np.uint8 or grid.ndim != 3 or grid.shape[-1] not in (1, 3, 4):
            raise fail("grid", f"dtype {grid.dtype} and shape {grid.shape}", "a uint8 (H, W, 3) image",
                       "pass the array GLASExplainer.explain() returned")
        os.makedirs(output_dir, exist_ok=True)
        path = os.path.join(os.fspath(output_dir), output_name)
        with open(path, "wb") as f:
            f.write(encode_png(grid))
        return path


# ------------------------------------------------------------------------------ Xplique
class GLAS:
    """GLAS with the Xplique interface: ``GLAS(model)(inputs, targets) -> (N, H, W, 1)``.

    Parameters
    ----------
    model
        Keras model or callable, as in :func:`glas_adapters.tf.explain`.
    batch_size
        Most perturbed images per model call (None: 64).
    **glas_kwargs
        Other arguments of :func:`glas_adapters.tf.explain` (grid, sigma, probabilities, config, ...).
    """

    def __init__(self, model: Any, batch_size: int | None = None, **glas_kwargs: Any) -> None:
        for key in ("targets", "class_index", "return_result"):
            if key in glas_kwargs:
                raise fail(f"GLAS(..., {key}=)", glas_kwargs[key], "not given here",
                           "pass the classes as targets to explain(inputs, targets)")
        self.model = model
        self.batch_size = batch_size
        self.glas_kwargs = glas_kwargs

    def explain(self, inputs: Any, targets: Any = None) -> Any:
        """float32 maps ``(N, H, W, 1)`` for ``inputs`` ``(N, H, W, C)``, in the inputs' framework.

        ``targets`` are Xplique's one-hot ``(N, num_classes)`` rows, integer classes ``(N,)``, or
        None for the predicted classes.
        """
        if hasattr(inputs, "shape") and len(inputs.shape) == 3:
            raise fail("inputs", f"shape {tuple(inputs.shape)}", "a batch (N, H, W, C), as Xplique passes them",
                       "add a batch axis with inputs[None]")
        maps = explain(self.model, inputs, _classes_of(targets), batch_size=self.batch_size, **self.glas_kwargs)
        return like(to_host(maps)[..., None].astype(np.float32), inputs)

    __call__ = explain


def _classes_of(targets: Any) -> Any:
    """Xplique's targets (one-hot rows or class indices) as one class index per image."""
    if targets is None:
        return None
    targets = to_host(targets)
    if targets.ndim == 1:
        return targets.astype(np.int64) if np.issubdtype(targets.dtype, np.integer) else targets
    if targets.ndim != 2:
        raise fail("targets", f"shape {targets.shape}", "one-hot (N, num_classes) rows or class indices (N,)",
                   "pass np.eye(num_classes)[labels] or the labels themselves")
    n_hot = np.count_nonzero(targets, axis=1)
    if np.any(n_hot != 1):
        raise fail("targets", f"rows with {sorted(set(int(k) for k in n_hot))} non-zero entries",
                   "exactly one non-zero entry per row (one class per image)", "explain one class at a time")
    return np.argmax(targets, axis=1)
