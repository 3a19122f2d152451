""":class:`GLASCallback`: GLAS overlays of validation images written to TensorBoard during ``fit``.

It works on every Keras backend. TensorBoard's event files are written with TensorFlow's
summary writer, so TensorFlow must be installed; on the JAX and torch backends it is imported
only when the first overlay is written.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Sequence
from types import ModuleType
from typing import Any

import numpy as np

from glas_adapters.tf.frameworks import upcoming_keras_backend
from glas_adapters.tf.runtime import load_tensorflow

if upcoming_keras_backend() == "tensorflow":
    load_tensorflow()  # before Keras, which imports TensorFlow (with its start-up notices) on that backend

import keras  # noqa: E402

from glas_adapters.tf.explainers import GLASExplainer  # noqa: E402
from glas_adapters.tf.overlay import encode_png  # noqa: E402
from glas_core.errors import fail  # noqa: E402

#: TensorBoard tag of the overlays written by :class:`GLASCallback`
SUMMARY_TAG = "GLAS"


def tensorflow() -> ModuleType:
    """TensorFlow, for its summary writer (imported quietly on first use on the JAX and torch backends)."""
    tf = load_tensorflow()
    if tf is None:
        raise fail("GLASCallback", "a Python without TensorFlow",
                   "used with TensorFlow installed (it writes TensorBoard summaries with tf.summary)",
                   'install it with pip install "glas-xai[tf]"')
    return tf


def write_image_summary(tag: str, image: np.ndarray, step: int) -> None:
    """Write one uint8 RGB image to the default summary writer, readable by TensorBoard's Images tab.

    This is the record ``tf.summary.image`` writes (a string tensor ``[width, height, png]`` with
    the ``images`` plugin metadata), made with TensorFlow alone: ``tf.summary.image`` needs the
    ``tensorboard`` package, which TensorFlow 2.21 no longer installs.
    """
    tf = tensorflow()
    metadata = tf.compat.v1.SummaryMetadata(display_name=tag, summary_description="GLAS saliency overlays")
    metadata.plugin_data.plugin_name = "images"
    height, width = image.shape[:2]
    tensor = tf.stack([tf.constant(str(width)), tf.constant(str(height)), tf.constant(encode_png(image))])
    with tf.device("/CPU:0"):
        tf.summary.write(tag, tensor, step=step, metadata=metadata)


def _tensorflow_installed() -> bool:
    """Whether TensorFlow can be imported, without importing it (a module blocked with None counts as absent)."""
    try:
        return importlib.util.find_spec("tensorflow") is not None
    except ValueError:  # sys.modules holds tensorflow without a spec
        return sys.modules.get("tensorflow") is not None


class GLASCallback(keras.callbacks.Callback):
    """Write GLAS overlay grids of ``validation_data`` to TensorBoard during ``fit``.

    Parameters
    ----------
    validation_data
        Images ``(N, H, W, C)`` or an ``(images, labels)`` pair (labels unused).
    class_index
        Class(es) to explain, as ``targets`` in :func:`glas_adapters.tf.explain`; None for the
        predicted ones (tf-explain's name and convention).
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
        if not _tensorflow_installed():
            raise fail("GLASCallback", "a Python without TensorFlow",
                       "used with TensorFlow installed (it writes TensorBoard summaries with tf.summary)",
                       'install it with pip install "glas-xai[tf]"')
        if not isinstance(every_n_epochs, int) or isinstance(every_n_epochs, bool) or every_n_epochs < 1:
            raise fail("every_n_epochs", every_n_epochs, "a positive int", "use every_n_epochs=1")
        self.validation_data = validation_data
        self.class_index = class_index
        self.log_dir = os.fspath(log_dir)
        self.every_n_epochs = every_n_epochs
        self.glas_kwargs = glas_kwargs
        self._writer: Any = None

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if (epoch + 1) % self.every_n_epochs:
            return
        grid = GLASExplainer().explain(self.validation_data, self.model, self.class_index, **self.glas_kwargs)
        if self._writer is None:
            self._writer = tensorflow().summary.create_file_writer(self.log_dir)
        with self._writer.as_default():
            write_image_summary(SUMMARY_TAG, grid, step=epoch)
        self._writer.flush()

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
