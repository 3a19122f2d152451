"""Run a :mod:`glas_core` entry point on the examples of a batch, under ``torch.no_grad()``.

Shared by the Captum attribution and the functional API: both cut their inputs into single
examples (:mod:`glas_adapters.torch.inputs`), wrap the model in a
:class:`~glas_adapters.torch.scores.ModelScorer` and hand it to the core, which builds the
masks on the input's device.

Plain GLAS (:func:`glas_core.explain`) runs every example of the batch in ONE packed stream
(:func:`glas_core.explain_batch`): each forward call gets exactly ``batch_size`` rows, which
may belong to two or more examples, and each map equals that example's map alone bit for bit
(for a model in eval mode). Recursive and multi-scale GLAS run once per example.

Every call warns about a model in train mode and restores its buffers afterwards
(:mod:`~glas_adapters.torch.model_state`), and warns when ``probabilities="softmax"`` meets a
model that already ends in softmax.
"""

from __future__ import annotations

import numbers
from typing import Any, Callable

import torch
from torch import Tensor

import glas_core
from glas_core import GLASConfig, GLASError
from glas_core.errors import fail, quoted

from .._common import Progress, warn_if_already_probabilities
from .inputs import ExampleLayout, format_additional_args
from .model_state import model_state_kept
from .scores import ModelScorer, Probabilities

#: ``warnings`` stack level of the user's call, seen from :func:`explain_examples`: it is called
#: by ``GLASAttribution.attribute`` (under Captum's one-frame ``log_usage`` wrapper) or by the
#: functional API's ``_functional`` under ``explain*``.
_USER_LEVEL = 4


def explain_examples(core_fn: Callable[..., Any], forward_func: Callable[..., Any], layout: ExampleLayout,
                     targets: list[Tensor], additional_forward_args: Any, baselines: tuple[Any, ...],
                     probabilities: Probabilities, progress: Progress, config: GLASConfig,
                     core_kwargs: dict[str, Any] | None = None, *, single_output: bool = False,
                     target_name: str = "target", input_name: str = "inputs",
                     several_sweeps: bool = False) -> list[Any]:
    """``core_fn(score_fn, example, config=config, ...)`` for every example of ``layout``.

    Parameters
    ----------
    core_fn : callable
        :func:`glas_core.explain` (all examples in one packed :func:`glas_core.explain_batch`),
        :func:`glas_core.explain_recursive` or :func:`glas_core.explain_multiscale`.
    forward_func : callable
        The model.
    layout : ExampleLayout
        The inputs, cut into examples.
    targets : list of Tensor
        One ``(T,)`` tensor of class indices per example (the same T for all).
    additional_forward_args : any
        Captum's extra model arguments (sliced per example where they have N rows).
    baselines : tuple
        One checked baseline per input (:func:`~glas_adapters.torch.inputs.format_baselines`).
    probabilities : "softmax", "sigmoid", None or callable
        How outputs become probabilities; softmax and sigmoid are scored as log-probabilities.
    progress : Progress
        The call's one progress report.
    config : glas_core.GLASConfig
        The call's settings (:func:`glas_core.config.config_from`).
    core_kwargs : dict, optional
        Other keywords of ``core_fn`` (``t1``, ``t2``, ``max_iter``; ``sigmas``, ``in_pixels``).
    single_output, target_name, input_name
        See :class:`~glas_adapters.torch.scores.ModelScorer`.
    several_sweeps : bool
        ``core_fn`` runs several sweeps through one progress callback (recursive, multi-scale).
    """
    extra, per_example = format_additional_args(additional_forward_args, layout.num_examples)
    n = layout.num_examples

    def scorer(examples: list[int], rows_per_example: int = 0) -> ModelScorer:
        return ModelScorer(forward_func, torch.stack([targets[i] for i in examples]), probabilities,
                           layout.assembler(examples, extra, per_example), rows_per_example,
                           single_output=single_output, target_name=target_name, input_name=input_name)

    with model_state_kept(forward_func, stacklevel=_USER_LEVEL), torch.no_grad():
        if core_fn is glas_core.explain:
            rows = config.resolve(layout.spatial_shape).rows.n_rows
            packed = scorer(list(range(n)), rows)
            results = _core_call(packed, lambda: glas_core.explain_batch(
                packed, [layout.example(i) for i in range(n)], spatial_axes=layout.spatial_axes,
                baseline=[layout.baseline(i, baselines) for i in range(n)], progress=progress.sweep(),
                config=config, log_scores=packed.log_scores))
            _check_rows_seen(packed, n * rows)
            scorers = [packed]
        else:
            scorers = [scorer([i]) for i in range(n)]
            results = [_core_call(s, lambda s=s, i=i: core_fn(
                s, layout.example(i), spatial_axes=layout.spatial_axes, baseline=layout.baseline(i, baselines),
                progress=progress.sweeps() if several_sweeps else progress.sweep(), config=config,
                log_scores=s.log_scores, **(core_kwargs or {}))) for i, s in enumerate(scorers)]
    first = scorers[0].first_outputs
    if first is not None:
        warn_if_already_probabilities(first.float().cpu().numpy(), probabilities, stacklevel=_USER_LEVEL)
    return results


def _core_call(scorer: ModelScorer, call: Callable[[], Any]) -> Any:
    """Run one core call; NaN log-probabilities are reported as the model's NaN or inf outputs."""
    try:
        return call()
    except GLASError:
        if scorer.saw_nan():
            raise fail("forward_func output", "NaN or infinite values", "finite logits",
                       "check the model for NaN/inf outputs on perturbed inputs (e.g. a log of zero, or an "
                       "unnormalised input)") from None
        raise


def _check_rows_seen(scorer: ModelScorer, expected: int) -> None:
    """The packed scorer assigned rows to examples by counting; the count must match the sweep."""
    if scorer.packed and scorer.rows_seen != expected:
        raise RuntimeError(f"glas: the packed sweep scored {scorer.rows_seen} rows, expected {expected}; "
                           "targets may have been assigned to the wrong examples, so no map is returned")


def check_rows_per_call(name: str, value: Any) -> None:
    """Refuse a rows-per-forward-call setting that is not a positive int, under the caller's name."""
    if value is None:
        return
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 1:
        raise fail(name, quoted(value), "a positive int",
                   f"use {name}=64 (fewer rows per forward call if the GPU runs out of memory)")
