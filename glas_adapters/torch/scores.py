"""Turn a PyTorch forward function into the ``score_fn`` that :func:`glas_core.explain` calls.

The score of a target ``y`` is ``P(y | I)`` (Eq. 1 and 2 of the paper): the model output,
turned into probabilities (softmax, sigmoid, or used as is), gathered at the target columns.
"""

from __future__ import annotations

from typing import Any, Callable, Union

import torch
from torch import Tensor

from glas_core import GLASError

#: How model outputs become P(y|I): "softmax" over the last axis, "sigmoid", None (already
#: probabilities) or a callable ``outputs -> probabilities``.
Probabilities = Union[str, None, Callable[[Tensor], Tensor]]

_PROBABILITY_CHOICES = ("softmax", "sigmoid", None)


def check_probabilities(probabilities: Any) -> None:
    """Refuse anything but "softmax", "sigmoid", None or a callable."""
    if probabilities in _PROBABILITY_CHOICES or callable(probabilities):
        return
    raise GLASError(
        f"probabilities must be 'softmax', 'sigmoid', None or a callable, got {probabilities!r}; "
        "use probabilities='softmax' for a classifier returning logits, 'sigmoid' for multi-label "
        "logits, None when the model already returns probabilities")


def to_probabilities(outputs: Tensor, probabilities: Probabilities) -> Tensor:
    """Model outputs ``(B, K)`` -> probabilities ``(B, K)`` in float32 (float64 stays float64).

    Softmax and sigmoid run in at least float32 so half-precision logits do not lose the small
    score differences Eq. 2 measures.
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
        raise GLASError(
            f"probabilities callable must return a torch.Tensor, got {type(converted).__name__}; "
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
    """

    def __init__(self, forward_func: Callable[..., Any], targets: Tensor, probabilities: Probabilities,
                 assemble: Callable[[Tensor], tuple], single_output: bool = False) -> None:
        self.forward_func = forward_func
        self.targets = targets
        self._host_targets = targets.detach().cpu()  # range checks without a device sync
        self.probabilities = probabilities
        self.assemble = assemble
        self.single_output = single_output
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
            raise GLASError(
                f"probabilities callable must keep the output shape {tuple(outputs.shape)}, got "
                f"{tuple(probs.shape)}; apply an elementwise or last-axis normalisation")
        if self.targets.device != probs.device:  # a model that returns its output elsewhere
            self.targets = self.targets.to(probs.device)
        return probs.index_select(1, self.targets)

    def _as_matrix(self, outputs: Any, rows: int) -> Tensor:
        """Check the model output is ``(rows, K)`` (or ``(rows,)``) and the targets fit in K."""
        if not isinstance(outputs, Tensor):
            raise GLASError(
                f"forward_func output must be a torch.Tensor of shape ({rows}, num_classes), got "
                f"{type(outputs).__name__}; wrap the model so it returns the logits tensor, e.g. "
                "lambda x: model(x).logits")
        if outputs.ndim == 1:
            outputs = outputs.reshape(-1, 1)
        if outputs.ndim != 2 or int(outputs.shape[0]) != rows:
            raise GLASError(
                f"forward_func output must have shape ({rows}, num_classes) for a batch of {rows} "
                f"inputs, got {tuple(outputs.shape)}; wrap the model so it returns one row of "
                "class scores per input (e.g. flatten extra axes or select the head you explain)")
        columns = int(outputs.shape[1])
        if columns != self._checked_columns:
            self._check_columns(columns)
            self._checked_columns = columns
        return outputs

    def _check_columns(self, columns: int) -> None:
        if self.single_output and columns != 1:
            raise GLASError(
                f"target must be given for a model with {columns} outputs per example, got "
                f"target=None; pass the class to explain, e.g. target=int(model(x).argmax())")
        if columns == 1 and self.probabilities == "softmax":
            raise GLASError(
                "probabilities must be 'sigmoid' or None for a model with a single output per "
                "example, got 'softmax' (a softmax over one value is always 1); pass "
                "probabilities='sigmoid' for a logit or None for a probability")
        bad = self._host_targets[(self._host_targets < 0) | (self._host_targets >= columns)]
        if bad.numel():
            raise GLASError(
                f"target must be a class index in [0, {columns}) for a model with {columns} "
                f"outputs, got {int(bad[0])}; pick a column of the model output (e.g. its argmax)")
