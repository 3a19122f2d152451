"""Turning a Keras model (or any callable) into the ``score_fn`` that :func:`glas_core.explain` sweeps.

Two paths, picked by :func:`uses_tensorflow`:

* **TensorFlow path** (Keras on the TensorFlow backend, ``tf.Module`` or any callable taking
  ``tf.Tensor``): the batch stays a ``tf.Tensor`` on TensorFlow's device; the model is called as
  ``model(x, training=False)`` inside one module-level ``tf.function`` that takes a fixed chunk
  of rows (the last chunk is padded with zeros and its padded scores dropped), so it is traced
  once per image shape and chunk size and never per chunk.
* **NumPy path** (Keras 3 on the JAX or torch backend, or TensorFlow not installed): batches are
  NumPy arrays and the outputs are brought back with ``keras.ops.convert_to_numpy``.

Either way ``probabilities`` turns outputs into P(y|I): ``"softmax"`` over the last axis,
``"sigmoid"`` element-wise, None for outputs that already are probabilities, or a callable
``outputs -> probabilities`` (given ``tf.Tensor`` outputs on the TensorFlow path, NumPy
arrays on the NumPy path).
"""

from __future__ import annotations

import math
import sys
import warnings
from typing import Any, Callable, Sequence

import numpy as np

from glas_adapters._common import numpy_probabilities
from glas_adapters.tf.inputs import check_output_shape, check_outputs
from glas_adapters.tf.runtime import load_tensorflow
from glas_core.errors import fail

tf = load_tensorflow()  # None without TensorFlow: Keras 3 on JAX/torch works through the NumPy path
if tf is not None:  # glas_core builds masks and perturbed rows of tf.Tensor images with TensorFlow ops
    from glas_adapters.tf.namespace import register

    register()


def balanced_chunk(n_rows: int, batch_size: int) -> int:
    """The smallest chunk that covers ``n_rows`` in as many calls as ``batch_size`` would.

    Padding the last chunk to a fixed size costs forward passes on zeros; 451 rows at
    ``batch_size=64`` take 8 calls either way, but chunks of 57 pad 5 rows instead of 61.
    """
    n_calls = max(1, math.ceil(n_rows / batch_size))
    return max(1, math.ceil(n_rows / n_calls))


def _is_keras_layer(model: Any) -> bool:
    keras = sys.modules.get("keras")
    return keras is not None and isinstance(model, keras.layers.Layer)


def uses_tensorflow(model: Any) -> bool:
    """Whether ``model`` is run through the TensorFlow path (see the module docstring)."""
    if tf is None:
        return False
    if _is_keras_layer(model):
        return sys.modules["keras"].backend.backend() == "tensorflow"
    return True


# ------------------------------------------------------------------------------ TensorFlow path
if tf is not None:

    @tf.function
    def forward(model: Any, batch: Any, with_training_flag: bool) -> Any:
        """The one compiled forward: the model object is a trace key (held weakly by TensorFlow)."""
        return model(batch, training=False) if with_training_flag else model(batch)

    def _tf_probabilities(outputs: Any, probabilities: Any) -> Any:
        outputs = tf.convert_to_tensor(outputs)
        if len(outputs.shape) == 1:
            outputs = outputs[:, None]
        if probabilities == "softmax":
            return tf.nn.softmax(outputs, axis=-1)
        if probabilities == "sigmoid":
            return tf.sigmoid(outputs)
        if probabilities is None:
            return outputs
        return tf.convert_to_tensor(probabilities(outputs))


class Scorer:
    """Runs ``model`` on padded fixed-size chunks and turns its outputs into probabilities.

    Parameters
    ----------
    model
        Keras model or callable returning ``(B, K)`` scores.
    probabilities
        ``"softmax"``, ``"sigmoid"``, None or a callable (see the module docstring), already checked.
    """

    def __init__(self, model: Any, probabilities: Any) -> None:
        if not callable(model):
            raise fail("model", type(model).__name__, "a Keras model or a callable returning (N, num_classes) scores",
                       "pass the model itself, e.g. explain(model, images)")
        self.model = model
        self.probabilities = probabilities
        self.on_tensorflow = uses_tensorflow(model)
        self.with_training_flag = _is_keras_layer(model)

    # -- batches ------------------------------------------------------------------------------
    def as_batch(self, images: Any) -> Any:
        """``images`` as the array type this path feeds the model (a tf.Tensor or NumPy), float."""
        if self.on_tensorflow:
            images = tf.convert_to_tensor(images)
            return images if images.dtype.is_floating else tf.cast(images, tf.float32)
        if hasattr(images, "numpy") and not isinstance(images, np.ndarray):
            images = images.numpy()
        images = np.asarray(images)
        return images if np.issubdtype(images.dtype, np.floating) else images.astype(np.float32)

    def _raw(self, batch: Any, chunk: int) -> Any:
        """Model outputs for ``batch`` (B <= chunk rows) computed on a zero-padded chunk."""
        rows = int(batch.shape[0])
        if self.on_tensorflow:
            if rows < chunk:
                pad = tf.zeros([chunk - rows, *batch.shape[1:]], dtype=batch.dtype)
                batch = tf.concat([batch, pad], axis=0)
            outputs = forward(self.model, batch, self.with_training_flag)
            check_output_shape(outputs, chunk)
            return outputs[:rows]
        if rows < chunk:
            batch = np.concatenate([batch, np.zeros((chunk - rows, *batch.shape[1:]), batch.dtype)], axis=0)
        outputs = self.model(batch, training=False) if self.with_training_flag else self.model(batch)
        check_output_shape(outputs, chunk)
        keras = sys.modules.get("keras")
        outputs = keras.ops.convert_to_numpy(outputs) if keras is not None else np.asarray(outputs)
        return np.asarray(outputs)[:rows]

    def clean_outputs(self, images: Any, chunk: int) -> np.ndarray:
        """Raw outputs ``(N, K)`` of the unperturbed images, as NumPy, checked.

        Run on ``min(N, chunk)`` rows per call without padding: padding N images up to the
        sweep's chunk would cost a whole chunk of forward passes per call (one more trace
        for the shape ``min(N, chunk)`` is cheaper).
        """
        parts = []
        n = int(images.shape[0])
        rows = min(n, chunk)
        for start in range(0, n, rows):
            out = self._raw(images[start:start + rows], rows)
            parts.append(out.numpy() if hasattr(out, "numpy") else np.asarray(out))
        return check_outputs(np.concatenate(parts, axis=0), n)

    def probabilities_of(self, outputs: np.ndarray) -> np.ndarray:
        """P(y|I) of clean outputs, as NumPy (a callable sees the array type of this path)."""
        if self.on_tensorflow and callable(self.probabilities):
            return np.asarray(_tf_probabilities(outputs, self.probabilities))
        return numpy_probabilities(outputs, self.probabilities)

    def warn_if_already_probabilities(self, outputs: np.ndarray) -> None:
        """Softmax over probabilities flattens every score; say so when the outputs look like that."""
        if self.probabilities != "softmax" or outputs.shape[1] < 2:
            return
        in_unit_range = np.all(outputs >= 0) and np.all(outputs <= 1)
        if in_unit_range and np.allclose(outputs.sum(axis=1), 1.0, atol=1e-3):
            warnings.warn(
                "the model's outputs already sum to 1 per image (a softmax head?) but probabilities='softmax' "
                "applies softmax again, which squeezes the scores towards uniform; pass probabilities=None.",
                UserWarning,
                stacklevel=4,
            )

    # -- score_fn for the core ------------------------------------------------------------------
    def score_fn(self, targets: Sequence[int], chunk: int) -> Callable[[Any], Any]:
        """``score_fn(batch (B, H, W, C)) -> (B, T)`` probabilities of ``targets``, for glas_core."""
        probabilities = self.probabilities
        if self.on_tensorflow:
            target_tensor = tf.constant(np.asarray(targets, dtype=np.int32))

            def tf_score_fn(batch: Any) -> Any:
                probs = _tf_probabilities(self._raw(batch, chunk), probabilities)
                return tf.gather(probs, target_tensor, axis=1)

            return tf_score_fn
        target_array = np.asarray(targets, dtype=np.int64)

        def np_score_fn(batch: Any) -> np.ndarray:
            return numpy_probabilities(self._raw(batch, chunk), probabilities)[:, target_array]

        return np_score_fn
