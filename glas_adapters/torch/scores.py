"""Turn a PyTorch forward function into the ``score_fn`` that :func:`glas_core.explain` calls.

The score of a target ``y`` is ``P(y | I)`` (Eq. 1 and 2 of the paper): the model output,
turned into probabilities (softmax, sigmoid, or used as is), gathered at the target columns.
This module is the one place where torch outputs become probabilities.
"""

from __future__ import annotations

from typing import Any, Callable, Union

import torch
from torch import Tensor

from glas_core.errors import fail

#: How model outputs become P(y|I): "softmax" over the last axis, "sigmoid", None (already
#: probabilities) or a callable ``outputs -> probabilities``.
Probabilities = Union[str, None, Callable[[Tensor], Tensor]]


def to_probabilities(outputs: Tensor, probabilities: Probabilities) -> Tensor:
    """Model outputs ``(B, K)`` -> probabilities ``(B, K)`` in float32 (float64 stays float64).

    Softmax and sigmoid run in at least float32 so half-precision logits do not lose the small
    score differences Eq. 2 measures. ``probabilities`` must already be valid
    (:func:`glas_adapters._common.check_probabilities`).
    """
    work = outputs if outputs.dtype == torch.float64 else outputs.float()
    if probabilities == "softmax":
        return torch.softmax(work, dim=-1)
    if probabilities == "sigmoid":
        return torch.sigmoid(work)
    if probabilities is None:
        return work
    converted = probabilities(outputs)
    if not isinstance(converted, Tensor):
        raise fail("probabilities callable output", type(converted).__name__, "a torch.Tensor",
                   "return e.g. torch.softmax(outputs, dim=-1)")
    return converted if converted.dtype == torch.float64 else converted.float()


class ModelScorer:
    """``score_fn(batch) -> (B, T)`` probabilities of T target columns of a forward function.

    Parameters
    ----------
    forward_func : callable
        The model (or any callable) returning ``(B, K)`` outputs or ``(B,)`` scalars.
    targets : Tensor
        ``(T,)`` int64 column indices to gather; with ``single_output`` the model must
        return one value per row and ``targets`` is ``[0]``.
    probabilities : "softmax" | "sigmoid" | None | callable
        How outputs become probabilities.
    assemble : callable
        ``assemble(batch) -> tuple`` of positional arguments for ``forward_func`` (the
        perturbed batch, the other inputs and the additional forward args, each ``B`` rows).
    single_output : bool
        True when no target was given (Captum's ``target=None``): the model must return
        one score per example.
    target_name : str
        The caller's name for the targets in error messages (``target`` or ``targets``).
    """

    def __init__(self, forward_func: Callable[..., Any], targets: Tensor, probabilities: Probabilities,
                 assemble: Callable[[Tensor], tuple], single_output: bool = False,
                 target_name: str = "target") -> None:
        self.forward_func = forward_func
        self.targets = targets
        self._host_targets = targets.detach().cpu()  # range checks without a device sync
        self.probabilities = probabilities
        self.assemble = assemble
        self.single_output = single_output
        self.target_name = target_name
        self._checked_columns: int | None = None

    def __call__(self, batch: Tensor) -> Tensor:
        if self.targets.device != batch.device:
            # before the forward pass is queued: a host-to-device copy after it would make the
            # host wait for that forward pass and leave the GPU idle while the next chunk is built
            self.targets = self.targets.to(batch.device)
        outputs = self.forward_func(*self.assemble(batch))
        outputs = self._as_matrix(outputs, int(batch.shape[0]))
        probs = to_probabilities(outputs, self.probabilities)
        if probs.shape != outputs.shape:
            raise fail("probabilities callable output", f"shape {tuple(probs.shape)}",
                       f"the output shape {tuple(outputs.shape)}",
                       "apply an elementwise or last-axis normalisation")
        if self.targets.device != probs.device:  # a model that returns its output elsewhere
            self.targets = self.targets.to(probs.device)
        return probs.index_select(1, self.targets)

    def _as_matrix(self, outputs: Any, rows: int) -> Tensor:
        """Check the model output is ``(rows, K)`` (or ``(rows,)``) and the targets fit in K."""
        if not isinstance(outputs, Tensor):
            raise fail("forward_func output", type(outputs).__name__,
                       f"a torch.Tensor of shape ({rows}, num_classes)",
                       "wrap the model so it returns the logits tensor, e.g. lambda x: model(x).logits")
        if outputs.ndim == 1:
            outputs = outputs.reshape(-1, 1)
        if outputs.ndim != 2 or int(outputs.shape[0]) != rows:
            raise fail("forward_func output", f"shape {tuple(outputs.shape)}",
                       f"of shape ({rows}, num_classes) for a batch of {rows} inputs",
                       "wrap the model so it returns one row of class scores per input (e.g. flatten "
                       "extra axes or select the head you explain)")
        columns = int(outputs.shape[1])
        if columns != self._checked_columns:
            self._check_columns(columns)
            self._checked_columns = columns
        return outputs

    def _check_columns(self, columns: int) -> None:
        if self.single_output and columns != 1:
            raise fail("target", "target=None", f"given for a model with {columns} outputs per example",
                       "pass the class to explain, e.g. target=int(model(x).argmax())")
        if columns == 1 and self.probabilities == "softmax":
            raise fail("probabilities", "'softmax' (a softmax over one value is always 1)",
                       "'sigmoid' or None for a model with a single output per example",
                       "pass probabilities='sigmoid' for a logit or None for a probability")
        bad = self._host_targets[(self._host_targets < 0) | (self._host_targets >= columns)]
        if bad.numel():
            raise fail(self.target_name, int(bad[0]),
                       f"a class index in [0, {columns}) for a model with {columns} outputs",
                       "pick a column of the model output (e.g. its argmax)")
