"""Turning a Keras model (or any callable) into the ``score_fn`` that :mod:`glas_core` sweeps.

The model runs on the engine of its Keras backend (:mod:`glas_adapters.tf.engines`) on chunks
of one fixed size (the last chunk is padded with zeros and its padded scores dropped), so a
compiled forward is never rebuilt per chunk. ``probabilities`` says how outputs become scores:

* ``"softmax"`` / ``"sigmoid"``: log-probabilities of the targets
  (:func:`glas_core.log_probabilities`: float32, or float64 for float64 outputs, never half
  precision, and exact for a class that wins by a wide margin), swept with
  ``log_scores=True``, so an over-confident model whose probabilities underflow under a mask
  still gets a map; each map is then the paper's Eq. 3 divided by one positive factor
  (``result.log_scale``);
* None: the outputs already are probabilities (used in float32, or float64);
* a callable ``outputs -> probabilities``, given the outputs as the model returned them.

Scores are computed on NumPy for images on the CPU, on the framework's tensors on an
accelerator. A packed sweep (:func:`glas_core.explain_batch`) hands the
model chunks that hold the rows of consecutive images in order; :class:`RowTargets` follows that
order to gather each row's own target classes.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np

import glas_core
from glas_adapters._common import warn_if_already_probabilities
from glas_adapters.tf.engines import Engine, device, namespace
from glas_adapters.tf.failures import model_failure, root_cause
from glas_adapters.tf.frameworks import keras_layer, to_host
from glas_adapters.tf.inputs import check_output_shape, check_outputs
from glas_core.errors import GLASError, fail

_LOG_KIND = {"softmax": "softmax", "sigmoid": "sigmoid"}


def balanced_chunk(n_rows: int, batch_size: int) -> int:
    """The smallest chunk that covers ``n_rows`` in as many calls as ``batch_size`` would.

    Padding the last chunk to a fixed size costs forward passes on zeros; 451 rows at
    ``batch_size=64`` take 8 calls either way, but chunks of 57 pad 5 rows instead of 61.
    """
    n_calls = max(1, math.ceil(n_rows / batch_size))
    return max(1, math.ceil(n_rows / n_calls))


class RowTargets:
    """The target classes of each row of a sweep, ``(B, T)`` per chunk.

    Parameters
    ----------
    targets : numpy.ndarray
        ``(N, T)`` class indices of the N images of the sweep.
    rows_per_image : int
        Rows of one image's sweep; with N > 1 the chunks are read as consecutive rows of
        image 0, then image 1, ... (a packed sweep). With N = 1 every row has the same targets,
        however many sweeps use them (recursive and multi-scale GLAS).
    """

    def __init__(self, targets: np.ndarray, rows_per_image: int) -> None:
        self.targets = np.asarray(targets, dtype=np.int64)
        self.rows_per_image = rows_per_image
        self.offset = 0

    def next(self, rows: int) -> np.ndarray:
        if len(self.targets) == 1:
            return np.broadcast_to(self.targets[0], (rows, self.targets.shape[1]))
        owner = (self.offset + np.arange(rows)) // self.rows_per_image
        self.offset += rows
        if owner[-1] >= len(self.targets):
            raise RuntimeError("the packed sweep called the model on more rows than its images have")
        return self.targets[owner]


def target_scores(outputs: Any, cols: np.ndarray, log_kind: str | None) -> Any:
    """``(B, T)`` scores of each row's own targets ``cols`` from ``(B, K)`` outputs, in their namespace.

    With ``log_kind`` ("softmax" / "sigmoid") the outputs are logits and the scores are
    :func:`glas_core.log_probabilities`; else the outputs are probabilities, used in float32
    (float64 stays float64). Only the classes some row asks for are computed.
    """
    xp = namespace(outputs)
    if outputs.ndim == 1:
        outputs = xp.reshape(outputs, (-1, 1))
    used, where = np.unique(cols, return_inverse=True)
    if log_kind is not None:
        table = glas_core.log_probabilities(outputs, [int(c) for c in used], log_kind)
    else:
        work = outputs if outputs.dtype in (xp.float32, xp.float64) else xp.astype(outputs, xp.float32)
        table = xp.take(work, xp.asarray(used, device=device(outputs)), axis=1)
    flat = np.arange(cols.shape[0])[:, None] * len(used) + where.reshape(cols.shape)
    picked = xp.take(xp.reshape(table, (-1,)), xp.asarray(flat.ravel(), device=device(outputs)), axis=0)
    return xp.reshape(picked, cols.shape)


class Scorer:
    """Runs ``model`` on fixed-size chunks through ``engine`` and scores its outputs.

    Parameters
    ----------
    model
        Keras model or callable returning ``(B, K)`` scores.
    probabilities
        ``"softmax"``, ``"sigmoid"``, None or a callable (see the module docstring), already checked.
    engine
        The execution path of the model.
    host_scores
        Compute the scores on NumPy (images on the CPU): the outputs of a chunk are a few
        numbers per row, and NumPy's math on them beats the eager dispatch of a framework. On
        an accelerator they stay there, so the host never waits for the device.
    """

    def __init__(self, model: Any, probabilities: Any, engine: Engine, host_scores: bool) -> None:
        if not callable(model):
            raise fail("model", type(model).__name__, "a Keras model or a callable returning (N, num_classes) scores",
                       "pass the model itself, e.g. explain(model, images)")
        self.model = model
        self.probabilities = probabilities
        self.engine = engine
        self.host_scores = host_scores
        self.log_kind = _LOG_KIND.get(probabilities) if isinstance(probabilities, str) else None
        self.log_scores = self.log_kind is not None
        self._run = engine.runner(model, keras_layer(model))

    def _outputs(self, batch: Any, rows: int) -> Any:
        """The model's outputs on ``batch`` padded to ``rows`` rows; an error of the model told as one GLASError."""
        padded = batch if int(batch.shape[0]) == rows else self.engine.pad(batch, rows)
        try:
            return self._run(padded)
        except GLASError:
            raise
        except Exception as exc:  # noqa: BLE001 - any error of the user's model
            raise model_failure(exc, padded) from root_cause(exc)

    def _callable_probabilities(self, outputs: Any) -> np.ndarray:
        """The user's ``probabilities(outputs)``, checked, as NumPy."""
        probs = to_host(self.probabilities(outputs))
        probs = probs[:, None] if probs.ndim == 1 else probs
        shape = tuple(outputs.shape) if len(outputs.shape) == 2 else (int(outputs.shape[0]), 1)
        if probs.shape != shape:
            raise fail("probabilities callable output", f"shape {probs.shape}", f"the outputs' shape {shape}",
                       "apply an elementwise or last-axis normalisation")
        return probs

    def clean_outputs(self, images: Any, chunk: int) -> tuple[np.ndarray, np.ndarray]:
        """Raw outputs ``(N, K)`` of the unperturbed images as NumPy, checked, and the predicted classes.

        Run on ``min(N, chunk)`` rows per call: padding N images up to the sweep's chunk
        would cost a whole chunk of forward passes per call (one more compiled shape is cheaper).
        """
        outputs, predicted = [], []
        n = int(images.shape[0])
        rows = min(n, chunk)
        for start in range(0, n, rows):
            got = min(rows, n - start)
            out = self._outputs(images[start:start + got], rows)
            check_output_shape(out, rows)
            ranked = self._callable_probabilities(out) if callable(self.probabilities) else to_host(out)
            outputs.append(to_host(out)[:got])
            predicted.append(np.argmax(ranked.reshape(rows, -1)[:got], axis=1))
        return check_outputs(np.concatenate(outputs, axis=0), n), np.concatenate(predicted)

    def check_clean(self, outputs: np.ndarray) -> None:
        """Refuse a softmax over one output; warn about a softmax over outputs that already are probabilities."""
        if outputs.shape[1] == 1 and self.probabilities == "softmax":
            raise fail("probabilities", "'softmax' (a softmax over one value is always 1)",
                       "'sigmoid' or None for a model with a single output per example",
                       "pass probabilities='sigmoid' for a logit or None for a probability")
        warn_if_already_probabilities(outputs, self.probabilities, stacklevel=4)  # the caller of explain

    def score_fn(self, targets: np.ndarray, chunk: int, rows_per_image: int) -> Callable[[Any], Any]:
        """``score_fn(batch (B, H, W, C)) -> (B, T)`` scores of each row's targets, for glas_core."""
        row_targets = RowTargets(targets, rows_per_image)

        def score(batch: Any) -> Any:
            rows = int(batch.shape[0])
            cols = row_targets.next(rows)
            out = self._outputs(batch, chunk)
            if callable(self.probabilities):
                out = self._callable_probabilities(out)
            elif self.host_scores:
                out = to_host(out)
            return target_scores(out[:rows], cols, self.log_kind)

        return score
