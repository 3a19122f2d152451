"""Run perturbed rows through an ONNX Runtime session and turn its outputs into log-probabilities.

Scores handed to :mod:`glas_core` are LOG-probabilities computed on the host in float32
(float64 for a float64 model), so Eq. 1-3 are evaluated in the log domain
(``log_scores=True``) and over-confident models whose float32 probabilities underflow under
the masks still get an informative map.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

import glas_core
from glas_adapters._common import warn_if_already_probabilities

from glas_adapters.onnx.session import Signature
from glas_core.errors import fail

#: how far a probability may stray outside [0, 1] by round-off before it is refused
PROBABILITY_TOLERANCE = 1e-3


class SessionRunner:
    """Feeds ``(B, ...)`` batches to the session and returns checked ``(B, K)`` outputs.

    A model with a fixed batch axis (e.g. exported with batch size 1) is fed exactly that many
    rows per run; the last run is padded with zeros and its padded outputs dropped.
    """

    def __init__(self, session: Any, signature: Signature) -> None:
        self.session = session
        self.signature = signature
        self.n_outputs: int | None = None
        # a failed run's reason goes into the GLASError; ONNX Runtime's own log line of it stays off stderr
        self.run_options = _quiet_run_options()

    def outputs(self, batch: np.ndarray) -> np.ndarray:
        """Raw outputs of ``batch``, ``(B, K)`` (a ``(B,)`` output becomes one column)."""
        rows = int(batch.shape[0])
        step = self.signature.batch or rows
        parts = []
        for start in range(0, rows, step):
            piece = batch[start:start + step]
            if piece.shape[0] < step:  # only with a fixed batch axis
                pad = np.zeros((step - piece.shape[0],) + piece.shape[1:], dtype=piece.dtype)
                piece = np.concatenate([piece, pad], axis=0)
            parts.append(self._run(piece)[:min(step, rows - start)])
        return parts[0] if len(parts) == 1 else np.concatenate(parts, axis=0)

    def _run(self, piece: np.ndarray) -> np.ndarray:
        sig = self.signature
        feed = {sig.input_name: np.ascontiguousarray(piece, dtype=sig.dtype)}
        try:
            out = np.asarray(self.session.run([sig.output_name], feed, self.run_options)[0])
        except Exception as exc:  # ONNX Runtime's own exception types: one line, ours
            reason = " ".join(str(exc).split())[:200]
            fix = ("if the model only runs one image at a time, pass batch_size=1 or re-export it with a dynamic "
                   "batch axis (dynamic_axes={'pixels': {0: 'batch'}, 'logits': {0: 'batch'}})"
                   if piece.shape[0] > 1 else "check that the model runs on these images with session.run")
            raise fail("model", f"a session run on a batch of shape {piece.shape} that failed ({reason})",
                       "a model that runs on batches of images", fix) from None
        return self._checked(out, int(piece.shape[0]))

    def _checked(self, out: np.ndarray, rows: int) -> np.ndarray:
        if out.ndim == 1:
            out = out[:, None]
        if out.ndim != 2 or out.shape[0] != rows:
            raise fail("model output", f"shape {out.shape} for {rows} image(s)",
                       "(N, num_classes) scores, one row per image",
                       "re-export the model so that its output is the (N, num_classes) classification head")
        if not np.issubdtype(out.dtype, np.floating):
            raise fail("model output", f"dtype {out.dtype}", "float scores (logits or probabilities)",
                       "re-export the model so that it returns the scores, not class indices")
        if self.n_outputs is not None and out.shape[1] != self.n_outputs:
            raise fail("model output", f"{out.shape[1]} columns after {self.n_outputs} on earlier images",
                       "the same number of classes for every image", "re-export the model with a fixed output width")
        self.n_outputs = int(out.shape[1])
        if not np.all(np.isfinite(out)):
            raise fail("model output", "non-finite scores (NaN or inf)", "finite scores",
                       "check the inputs, their dtype and the model's preprocessing")
        return out


def _quiet_run_options() -> Any:
    import onnxruntime

    options = onnxruntime.RunOptions()
    options.log_severity_level = 4  # fatal only
    return options


def log_probabilities(outputs: np.ndarray, probabilities: Any) -> np.ndarray:
    """``log P(y|I)`` of ``(B, K)`` outputs, in float32 (float64 for float64 outputs).

    ``"softmax"``: log-softmax over the last axis; ``"sigmoid"``: log-sigmoid per output;
    None: the log of outputs that already are probabilities; a callable: the log of what it
    returns for the NumPy outputs.  Probabilities of 0 become -inf.
    """
    work = outputs if outputs.dtype == np.float64 else outputs.astype(np.float32)
    if probabilities in ("softmax", "sigmoid"):  # exact for a class the model is sure of
        return glas_core.log_probabilities(work, kind=probabilities)
    probs = work if probabilities is None else np.asarray(probabilities(outputs))
    if probs.shape != outputs.shape:
        raise fail("probabilities callable output", f"shape {probs.shape}", f"the output shape {outputs.shape}",
                   "apply an elementwise or last-axis normalisation")
    probs = probs if probs.dtype == np.float64 else probs.astype(np.float32)
    lo, hi = float(np.min(probs)), float(np.max(probs))
    if not (lo >= -PROBABILITY_TOLERANCE and hi <= 1 + PROBABILITY_TOLERANCE):
        given = "None" if probabilities is None else "a callable"
        raise fail("probabilities", f"{given}, whose scores span [{lo:.4g}, {hi:.4g}]", "probabilities in [0, 1]",
                   "pass probabilities='softmax' for logits of exclusive classes or 'sigmoid' for multi-label logits")
    with np.errstate(divide="ignore"):
        return np.log(np.clip(probs, 0, 1))


class Scorer:
    """The ``score_fn`` of a sweep: log-probabilities of chosen columns of the session's outputs."""

    def __init__(self, runner: SessionRunner, probabilities: Any) -> None:
        self.runner = runner
        self.probabilities = probabilities

    def log_scores(self, batch: np.ndarray) -> np.ndarray:
        """``(B, K)`` log-probabilities of every class for ``batch``."""
        return log_probabilities(self.runner.outputs(batch), self.probabilities)

    def check_clean(self, outputs: np.ndarray) -> None:
        """Refuse or warn about a ``probabilities`` choice that does not fit the clean outputs."""
        if outputs.shape[1] == 1 and self.probabilities == "softmax":
            raise fail("probabilities", "'softmax' (a softmax over one value is always 1)",
                       "'sigmoid' or None for a model with a single output per image",
                       "pass probabilities='sigmoid' for a logit or None for a probability")
        warn_if_already_probabilities(outputs, self.probabilities, stacklevel=4)

    def score_fn(self, targets: Sequence[int]) -> Callable[[np.ndarray], np.ndarray]:
        """``score_fn(batch) -> (B, T)`` log-probabilities of ``targets`` for every row."""
        columns = np.asarray(targets, dtype=np.int64)

        def fixed(batch: np.ndarray) -> np.ndarray:
            return self.log_scores(batch)[:, columns]

        return fixed

    def packed_score_fn(self, table: np.ndarray, rows_per_image: int) -> "PackedScores":
        """A ``score_fn`` for :func:`glas_core.explain_batch` with ``table[i]`` the classes of image i."""
        return PackedScores(self, table, rows_per_image)


class PackedScores:
    """``score_fn`` over the packed rows of several images, each scored at its own classes.

    :func:`glas_core.explain_batch` streams the rows of image 0, then image 1, ... in order,
    ``rows_per_image`` each, several images sharing a chunk; so the global position of a row
    tells whose it is.  :meth:`check_done` confirms every row was scored exactly once.
    """

    def __init__(self, scorer: Scorer, table: np.ndarray, rows_per_image: int) -> None:
        self.scorer = scorer
        self.table = np.asarray(table, dtype=np.int64)
        self.rows_per_image = rows_per_image
        self.done = 0

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        rows = int(batch.shape[0])
        owners = np.arange(self.done, self.done + rows) // self.rows_per_image
        if owners[-1] >= self.table.shape[0]:
            raise RuntimeError("glas_core.explain_batch scored more rows than the images have")
        self.done += rows
        return np.take_along_axis(self.scorer.log_scores(batch), self.table[owners], axis=1)

    def check_done(self) -> None:
        if self.done != self.table.shape[0] * self.rows_per_image:
            raise RuntimeError(f"glas_core.explain_batch scored {self.done} rows, not "
                               f"{self.table.shape[0]} x {self.rows_per_image}")
