"""The PyTorch backend of the orchestrator: Captum-style inputs in, the model's outputs out.

The caller's inputs are cut into examples by :mod:`~glas_adapters.torch.inputs` (tuples,
``additional_forward_args``); the perturbed rows come back from the core on the input's device
and in its dtype, are put back around the untouched entries and extra arguments of each row's
example, and go through the model under ``torch.no_grad()``. Maps stay tensors on that device.
A model left in train mode is explained as it is, with a warning, and its buffers are restored
afterwards (:mod:`~glas_adapters.torch.model_state`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch
from torch import Tensor

from .._engine import Backend
from .diagnose import explain_forward_failure
from .inputs import ExampleLayout, format_additional_args, format_baselines
from .model_state import model_state_kept


class TorchBackend(Backend):
    """A forward function and the examples of one call.

    Parameters
    ----------
    forward_func : callable
        ``forward_func(*inputs, *additional_forward_args)`` returning ``(B, K)`` or ``(B,)``.
    layout : ExampleLayout
        The checked inputs, cut into examples.
    single : bool
        The caller gave one example without a batch axis.
    additional_forward_args : any
        Captum's extra model arguments (tensors with N rows are spread over each example's rows).
    input_name, baseline_name : str
        The caller's names for the inputs and the baseline in messages.
    """

    host_scores = False

    def __init__(self, forward_func: Callable[..., Any], layout: ExampleLayout, single: bool,
                 additional_forward_args: Any = None, *, input_name: str = "inputs",
                 baseline_name: str = "baselines") -> None:
        self.forward_func = forward_func
        self.layout = layout
        self.single = single
        self.n_examples = layout.num_examples
        self.spatial_axes = layout.spatial_axes
        self.spatial_shape = layout.spatial_shape
        self.input_name = input_name
        self.baseline_name = baseline_name
        extra, per_example = format_additional_args(additional_forward_args, self.n_examples)
        self._assemble = layout.assembler(range(self.n_examples), extra, per_example)

    def example(self, i: int) -> Tensor:
        return self.layout.example(i)

    def outputs(self, batch: Tensor, owners: np.ndarray) -> Any:
        rows = None if self.n_examples == 1 else torch.as_tensor(owners, device=batch.device)
        args = self._assemble(batch, rows)
        try:
            return self.forward_func(*args)
        except Exception as err:
            diagnosis = explain_forward_failure(self.forward_func, args, err, self.input_name)
            if diagnosis is None:
                raise
            raise diagnosis from err

    @contextlib.contextmanager
    def session(self) -> Iterator[None]:
        with model_state_kept(self.forward_func), torch.no_grad():
            yield

    def baselines(self, baseline: Any, name: str | None = None) -> list[Any]:
        checked = format_baselines(baseline, self.layout, name=name or self.baseline_name)
        return [self.layout.baseline(i, checked) for i in range(self.n_examples)]
