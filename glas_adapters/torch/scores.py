"""Turn a PyTorch forward function into the ``score_fn`` that :func:`glas_core.explain` calls.

The score of a target ``y`` is ``P(y | I)`` (Eq. 1 and 2 of the paper): the model output,
turned into probabilities (softmax, sigmoid, or used as is), gathered at the target columns.
This module is the one place where torch outputs become scores.

Log domain: with ``probabilities="softmax"`` or ``"sigmoid"`` the scores are the
LOG-probabilities (``log_softmax`` / ``logsigmoid`` of the logits) and the core fuses Eq. 1-3
in the log domain (``log_scores=True``). The map is then the paper's Eq. 3 divided by one
positive factor per target (``GLASResult.log_scale``), and an over-confident model whose
probabilities underflow under the masks still gets an informative map. Outputs given as
probabilities (``probabilities=None`` or a callable) are scored as probabilities.

Precision: the logits are read in float32 (float64 stays float64), never in float16 or
bfloat16, so half-precision outputs keep the small score differences Eq. 2 measures; and the
log-softmax keeps the log-probability of a class the model is sure of (:func:`log_softmax`),
where ``torch.log_softmax`` rounds it to 0.
"""

from __future__ import annotations

from typing import Any, Callable, Union

import torch
from torch import Tensor

import glas_core

from glas_core.errors import fail

from .diagnose import explain_forward_failure

#: How model outputs become P(y|I): "softmax" over the last axis, "sigmoid", None (already
#: probabilities) or a callable ``outputs -> probabilities``.
Probabilities = Union[str, None, Callable[[Tensor], Tensor]]

#: ``assemble(batch, owners) -> forward_func positional args``; ``owners`` is None when every
#: row belongs to one example, else the ``(B,)`` index of each row's example.
Assemble = Callable[[Tensor, Union[Tensor, None]], tuple]


def uses_log_scores(probabilities: Probabilities) -> bool:
    """Whether scores are log-probabilities (the adapter has the logits) for this ``probabilities``."""
    return isinstance(probabilities, str) and probabilities in ("softmax", "sigmoid")


def _work_dtype(outputs: Tensor) -> Tensor:
    """Outputs in float32, or float64 when they are float64: never a half-precision softmax."""
    return outputs if outputs.dtype == torch.float64 else outputs.float()


def to_probabilities(outputs: Tensor, probabilities: Probabilities) -> Tensor:
    """Model outputs ``(B, K)`` -> probabilities ``(B, K)`` in float32 (float64 stays float64).

    ``probabilities`` must already be valid (:func:`glas_adapters._common.check_probabilities`).
    A callable gets the outputs in float32 (or float64).
    """
    work = _work_dtype(outputs)
    if probabilities == "softmax":
        return torch.softmax(work, dim=-1)
    if probabilities == "sigmoid":
        return torch.sigmoid(work)
    if probabilities is None:
        return work
    converted = probabilities(work)
    if not isinstance(converted, Tensor):
        raise fail("probabilities callable output", type(converted).__name__, "a torch.Tensor",
                   "return e.g. torch.softmax(outputs, dim=-1)")
    return _work_dtype(converted)


def log_softmax(logits: Tensor) -> Tensor:
    """``torch.log_softmax``'s value, but exact for the class the model is sure of.

    ``torch.log_softmax`` rounds ``log P(top)`` to exactly 0 once the logit margin is above about
    17 (float32), so every masked image would score the same; see :func:`glas_core.log_probabilities`.
    """
    return glas_core.log_probabilities(logits)


def to_scores(outputs: Tensor, probabilities: Probabilities) -> Tensor:
    """The scores the core receives: log-probabilities where :func:`uses_log_scores`, else probabilities."""
    if probabilities == "softmax":
        return log_softmax(_work_dtype(outputs))
    if probabilities == "sigmoid":
        return torch.nn.functional.logsigmoid(_work_dtype(outputs))
    return to_probabilities(outputs, probabilities)


class ModelScorer:
    """``score_fn(batch) -> (B, T)`` scores of T target columns of a forward function.

    One scorer serves one core call. Its batches hold the sweep rows of ``N`` examples in
    order (``rows_per_example`` each, as :func:`glas_core.explain_batch` packs them), so the
    scorer knows which example, and so which targets, every row belongs to.

    Parameters
    ----------
    forward_func : callable
        The model (or any callable) returning ``(B, K)`` outputs or ``(B,)`` scalars.
    targets : Tensor
        ``(N, T)`` int64 column indices: T targets per example. With ``single_output`` the
        model must return one value per row and the targets are 0.
    probabilities : "softmax" | "sigmoid" | None | callable
        How outputs become probabilities (:func:`to_scores`).
    assemble : callable
        ``assemble(batch, owners) -> tuple`` of positional arguments for ``forward_func``.
    rows_per_example : int
        Sweep rows per example (only used when ``N > 1``).
    single_output : bool
        True when no target was given (Captum's ``target=None``).
    target_name, input_name : str
        The caller's names for the targets and the inputs in error messages.
    """

    def __init__(self, forward_func: Callable[..., Any], targets: Tensor, probabilities: Probabilities,
                 assemble: Assemble, rows_per_example: int = 0, *, single_output: bool = False,
                 target_name: str = "target", input_name: str = "inputs") -> None:
        self.forward_func = forward_func
        self.targets = targets
        self._host_targets = targets.detach().cpu()  # range checks without a device sync
        self.probabilities = probabilities
        self.log_scores = uses_log_scores(probabilities)
        self.assemble = assemble
        self.rows_per_example = rows_per_example
        self.single_output = single_output
        self.target_name = target_name
        self.input_name = input_name
        self.first_outputs: Tensor | None = None  # a few rows of the first outputs, for the softmax-head rule
        self._checked_columns: int | None = None
        self.rows_seen = 0  # rows scored so far: which example each row of a packed batch belongs to
        self._nan: Tensor | None = None

    @property
    def packed(self) -> bool:
        return int(self.targets.shape[0]) > 1

    def __call__(self, batch: Tensor) -> Tensor:
        if self.targets.device != batch.device:
            # before the forward pass is queued: a host-to-device copy after it would make the
            # host wait for that forward pass and leave the GPU idle while the next chunk is built
            self.targets = self.targets.to(batch.device)
        rows = int(batch.shape[0])
        owners = None
        if self.packed:
            owners = torch.arange(self.rows_seen, self.rows_seen + rows, device=batch.device) // self.rows_per_example
        self.rows_seen += rows
        outputs = self._forward(self.assemble(batch, owners))
        outputs = self._as_matrix(outputs, rows)
        if self.first_outputs is None:
            self.first_outputs = outputs[:8].detach()
        scores = to_scores(outputs, self.probabilities)
        if scores.shape != outputs.shape:
            raise fail("probabilities callable output", f"shape {tuple(scores.shape)}",
                       f"the output shape {tuple(outputs.shape)}",
                       "apply an elementwise or last-axis normalisation")
        if self.log_scores:  # NaN log-probabilities come from NaN or +inf outputs; checked once, on failure
            nan = torch.isnan(scores).any()
            self._nan = nan if self._nan is None else self._nan | nan
        targets = self.targets if self.targets.device == scores.device else self.targets.to(scores.device)
        if owners is None:
            return scores.index_select(1, targets[0])
        return scores.gather(1, targets.index_select(0, owners.to(targets.device)))

    def saw_nan(self) -> bool:
        """Whether any log-probability was NaN: the model returned NaN or +inf (one device sync)."""
        return self._nan is not None and bool(self._nan)

    def _forward(self, args: tuple) -> Any:
        try:
            return self.forward_func(*args)
        except Exception as err:
            diagnosis = explain_forward_failure(self.forward_func, args, err, self.input_name)
            if diagnosis is None:
                raise
            raise diagnosis from err

    def _as_matrix(self, outputs: Any, rows: int) -> Tensor:
        """Check the model output is ``(rows, K)`` (or ``(rows,)``) and the targets fit in K."""
        if not isinstance(outputs, Tensor):
            raise fail("forward_func output", type(outputs).__name__,
                       f"a torch.Tensor of shape ({rows}, num_classes)",
                       "wrap the model so it returns the logits tensor, e.g. lambda x: model(x).logits")
        if outputs.ndim == 1:
            outputs = outputs.reshape(-1, 1)
        if outputs.ndim != 2 or int(outputs.shape[0]) != rows or int(outputs.shape[1]) == 0:
            raise fail("forward_func output", f"shape {tuple(outputs.shape)}",
                       f"of shape ({rows}, num_classes) with num_classes >= 1 for a batch of {rows} inputs",
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
