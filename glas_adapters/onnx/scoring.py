"""Run perturbed rows through an ONNX Runtime session: checked ``(B, K)`` outputs per batch.

The outputs become scores in :mod:`glas_adapters._engine.scores`, as every adapter's do.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from glas_adapters.onnx.session import Signature
from glas_core.errors import fail


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
        return self._in_pieces(batch, lambda piece: [self._checked(self._run(piece, [self.signature.output_name])[0],
                                                                   int(piece.shape[0]))])[0]

    def named_outputs(self, batch: np.ndarray) -> list[np.ndarray]:
        """The signature's ``output_names`` on ``batch``, as the model returns them (a detector's boxes,
        scores and labels; a segmenter's logits), each with one row per image."""
        return self._in_pieces(batch, lambda piece: self._run(piece, list(self.signature.output_names)))

    def _in_pieces(self, batch: np.ndarray, run: Any) -> list[np.ndarray]:
        """``run`` on runs of the model's fixed batch size (the last padded with zeros, its padded rows
        dropped), or on the whole batch; each output's rows concatenated."""
        rows = int(batch.shape[0])
        step = self.signature.batch or rows
        parts = []
        for start in range(0, rows, step):
            piece = batch[start:start + step]
            if piece.shape[0] < step:  # only with a fixed batch axis
                pad = np.zeros((step - piece.shape[0],) + piece.shape[1:], dtype=piece.dtype)
                piece = np.concatenate([piece, pad], axis=0)
            parts.append([np.asarray(o)[:min(step, rows - start)] for o in run(piece)])
        if len(parts) == 1:
            return parts[0]
        return [np.concatenate([p[k] for p in parts], axis=0) for k in range(len(parts[0]))]

    def _run(self, piece: np.ndarray, names: list[str]) -> list[np.ndarray]:
        sig = self.signature
        feed = {sig.input_name: np.ascontiguousarray(piece, dtype=sig.dtype)}
        try:
            return [np.asarray(o) for o in self.session.run(names, feed, self.run_options)]
        except Exception as exc:  # ONNX Runtime's own exception types: one line, ours
            reason = " ".join(str(exc).split())[:200]
            fix = ("if the model only runs one image at a time, pass batch_size=1 or re-export it with a dynamic "
                   "batch axis (dynamic_axes={'pixels': {0: 'batch'}, 'logits': {0: 'batch'}})"
                   if piece.shape[0] > 1 else "check that the model runs on these images with session.run")
            raise fail("model", f"a session run on a batch of shape {piece.shape} that failed ({reason})",
                       "a model that runs on batches of images", fix) from None

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
