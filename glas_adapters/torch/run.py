"""Run a :mod:`glas_core` entry point once per example of a batch, under ``torch.no_grad()``.

Shared by the Captum attribution and the functional API: both cut their inputs into single
examples (:mod:`glas_adapters.torch.inputs`), build one :class:`~glas_adapters.torch.scores.ModelScorer`
per example and hand it to the core, which builds the masks on the input's device.
"""

from __future__ import annotations

import numbers
from typing import Any, Callable

import torch
from torch import Tensor

from glas_core import GLASConfig
from glas_core.errors import fail

from .._common import Progress
from .inputs import ExampleLayout, format_additional_args
from .scores import ModelScorer, Probabilities


def explain_examples(core_fn: Callable[..., Any], forward_func: Callable[..., Any], layout: ExampleLayout,
                     targets: list[Tensor], additional_forward_args: Any, baselines: tuple[Any, ...],
                     probabilities: Probabilities, progress: Progress, config: GLASConfig,
                     core_kwargs: dict[str, Any] | None = None, *, single_output: bool = False,
                     target_name: str = "target", several_sweeps: bool = False) -> list[Any]:
    """``core_fn(score_fn, example, config=config, ...)`` for every example of ``layout``.

    Parameters
    ----------
    core_fn : callable
        :func:`glas_core.explain`, :func:`glas_core.explain_recursive` or
        :func:`glas_core.explain_multiscale`.
    forward_func : callable
        The model.
    layout : ExampleLayout
        The inputs, cut into examples.
    targets : list of Tensor
        One ``(T,)`` tensor of class indices per example.
    additional_forward_args : any
        Captum's extra model arguments (sliced per example where they have N rows).
    baselines : tuple
        One checked baseline per input (:func:`~glas_adapters.torch.inputs.format_baselines`).
    probabilities : "softmax", "sigmoid", None or callable
        How outputs become probabilities.
    progress : Progress
        The call's one progress report.
    config : glas_core.GLASConfig
        The call's settings (:func:`glas_core.config.config_from`).
    core_kwargs : dict, optional
        Other keywords of ``core_fn`` (``t1``, ``t2``, ``max_iter``; ``sigmas``, ``in_pixels``).
    single_output, target_name
        See :class:`~glas_adapters.torch.scores.ModelScorer`.
    several_sweeps : bool
        ``core_fn`` runs several sweeps through one progress callback (recursive, multi-scale).
    """
    extra, per_example = format_additional_args(additional_forward_args, layout.num_examples)
    results = []
    with torch.no_grad():
        for i in range(layout.num_examples):
            scorer = ModelScorer(forward_func, targets[i], probabilities, layout.assembler(i, extra, per_example),
                                 single_output, target_name)
            report = progress.sweeps() if several_sweeps else progress.sweep()
            results.append(core_fn(scorer, layout.example(i), spatial_axes=layout.spatial_axes,
                                   baseline=layout.baseline(i, baselines), progress=report, config=config,
                                   **(core_kwargs or {})))
    return results


def check_rows_per_call(name: str, value: Any) -> None:
    """Refuse a rows-per-forward-call setting that is not a positive int, under the caller's name."""
    if value is None:
        return
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 1:
        raise fail(name, value, "a positive int",
                   f"use {name}=64 (fewer rows per forward call if the GPU runs out of memory)")
