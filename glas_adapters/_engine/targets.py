"""What ``targets`` means: one rule, the same in every adapter.

=========================================  ==========================  ==================================
``targets``                                one example (no batch axis)  a batch of N examples
=========================================  ==========================  ==================================
an int ``c``                               class ``c``: one map         class ``c`` for every example
``None``                                   the predicted class          each example's predicted class
a list / 1-D array of length T             T classes: T maps            one class per example (Captum's
                                                                        rule): T must be N
an ``(N, T)`` nested list / 2-D array      ``(1, T)``: T maps           T classes per example
=========================================  ==========================  ==================================

The maps carry a target axis (``(T, *spatial)`` per example) exactly when the request names
several classes per example: a list for one unbatched example, or a 2-D array. Anything that
fits none of the rows (a list for a batch whose length is not N, floats, bools, an empty
list) is refused with the fix: no length is ever guessed.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Any

import numpy as np

from glas_core.errors import fail, quoted


def _preview(values: Any, limit: int = 5) -> str:
    flat = [int(v) for v in np.asarray(values).ravel()]
    text = ", ".join(str(v) for v in flat[:limit])
    return f"[{text}{', ...' if len(flat) > limit else ''}]"


@dataclass(frozen=True)
class TargetRequest:
    """Targets as asked for, before the model's outputs tell the predicted classes and their number.

    Attributes
    ----------
    table : numpy.ndarray or None
        ``(N, T)`` int64 class indices; None for each example's predicted class.
    several : bool
        The maps keep a target axis (several classes per example were asked for).
    single_output : bool
        Captum's ``target=None``: the model has one output per example, column 0.
    name : str
        The caller's name for the argument, used in messages (``targets``, ``target``, ``class_index``).
    """

    table: np.ndarray | None
    several: bool
    single_output: bool = False
    name: str = "targets"

    def resolve(self, predicted: np.ndarray | None, n_outputs: int, n_examples: int) -> np.ndarray:
        """The ``(N, T)`` classes, checked against a model with ``n_outputs`` columns.

        ``predicted`` (each example's argmax on its clean input) is read only when the
        request is for the predicted classes.
        """
        if self.single_output:
            if n_outputs != 1:
                raise fail(self.name, f"{self.name}=None", f"given for a model with {n_outputs} outputs per example",
                           f"pass the class to explain, e.g. {self.name}=int(model(x).argmax())")
            return np.zeros((n_examples, 1), dtype=np.int64)
        if self.table is None:
            if predicted is None or len(predicted) != n_examples:
                raise RuntimeError("glas: the predicted classes were asked for before the clean pass")
            table = np.asarray(predicted, dtype=np.int64)[:, None]
        else:
            table = self.table
        bad = (table < 0) | (table >= n_outputs)
        if bad.any():
            fix = ("a single-output sigmoid model is explained with class 0" if n_outputs == 1
                   else "pick classes the model outputs (e.g. its argmax)")
            raise fail(self.name, f"{_preview(np.unique(table[bad]))}, out of range for a model with {n_outputs} "
                       "output(s)", f"class indices in [0, {n_outputs})", fix)
        return table


def read_targets(targets: Any, n_examples: int, single: bool, name: str = "targets") -> TargetRequest:
    """Read ``targets`` by the contract table of this module, before any forward pass.

    Parameters
    ----------
    targets
        An int, None, a sequence / 1-D array, or a 2-D nested sequence / array (NumPy or any
        framework's tensor).
    n_examples
        Examples of the call (1 for a single example).
    single
        The caller passed one example without a batch axis.
    name
        The argument's name in messages.
    """
    expected = ("an int, None (the predicted class), a list with one class per example, or an (N, T) "
                "nested list of T classes per example" if not single else
                "an int, None (the predicted class), or a list of classes (one map each)")
    several_fix = f"for several classes per example pass an (N, T) nested list, e.g. {name}=[[1, 3]] * {n_examples}"
    if targets is None:
        return TargetRequest(None, several=False, name=name)
    if isinstance(targets, (bool, np.bool_)):
        raise fail(name, f"the bool {targets}", expected, f"pass a class index, e.g. {name}=0")
    values = _as_numpy(targets, name, expected)
    if values.size == 0:
        raise fail(name, "an empty list", expected, f"pass at least one class, e.g. {name}=0")
    if not np.issubdtype(values.dtype, np.integer):
        whole = (np.issubdtype(values.dtype, np.floating) and np.all(np.isfinite(values))
                 and np.all(values == np.round(values)))
        fix = (f"pass class indices as ints, e.g. {name}={_preview(values.astype(np.int64))}"
               if whole and values.ndim else f"pass a class index as an int, e.g. {name}=0")
        raise fail(name, f"{quoted(targets) if values.ndim == 0 else 'values of dtype ' + str(values.dtype)}",
                   "integer class indices", fix)
    values = values.astype(np.int64)
    if values.ndim == 0:
        return TargetRequest(np.full((n_examples, 1), int(values), dtype=np.int64), several=False, name=name)
    if values.ndim == 1:
        if single:
            return TargetRequest(values[None, :], several=True, name=name)
        if len(values) != n_examples:
            raise fail(name, f"a list of {len(values)} classes for a batch of {n_examples} example(s)",
                       f"one class per example ({n_examples}), Captum's rule", several_fix)
        return TargetRequest(values[:, None], several=False, name=name)
    if values.ndim == 2 and values.shape[0] == n_examples:
        return TargetRequest(values, several=True, name=name)
    shown = f"shape {values.shape}" + (" for one example" if single else f" for a batch of {n_examples}")
    raise fail(name, shown, expected, f"pass a ({n_examples}, T) nested list, e.g. {name}=[[1, 3]] * {n_examples}")


def _as_numpy(targets: Any, name: str, expected: str) -> np.ndarray:
    """Targets as a NumPy array: tensors are read on the host, nested lists must be rectangular."""
    if isinstance(targets, numbers.Number):
        return np.asarray(targets)
    detach = getattr(targets, "detach", None)
    if callable(detach):  # a torch tensor: read on the host
        targets = detach().cpu().numpy()
    elif hasattr(targets, "numpy") and not isinstance(targets, np.ndarray):
        targets = targets.numpy()
    try:
        return np.asarray(targets)
    except (TypeError, ValueError) as exc:
        raise fail(name, f"{quoted(targets)} ({' '.join(str(exc).split())[:80]})", expected,
                   "give every example the same number of classes") from None
