"""The functional API: several targets per example in one sweep, recursive and multi-scale GLAS.

Every function takes one example ``(C, *spatial)`` (one result back) or a batch
``(N, C, *spatial)`` (a list of N results back) and the one keyword vocabulary of the
adapters: ``targets``, ``grid``, ``sigma``, ``sigma_px``, ``mode``, ``lam``, ``baseline``,
``batch_size``, ``progress``, ``probabilities`` and ``config``. A setting left at None takes
the core's default (grid 15, sigma (5, 3, 6) grid cells, mode "fusion", lam 1e-5, batch 64).
"""

from __future__ import annotations

from typing import Any, Callable, Sequence, Union

import numpy as np
import torch
from torch import Tensor

import glas_core
from glas_core.adaptive import DEFAULT_KEEP
from glas_core.config import config_from
from glas_core.errors import fail

from .._common import Progress, ProgressFn, check_probabilities
from .inputs import format_baselines, format_multi_targets, layout_of
from .run import explain_examples
from .scores import Probabilities

TensorOrTuple = Union[Tensor, tuple[Tensor, ...]]
ProgressArg = Union[bool, ProgressFn, None]


def explain(
    model: Callable[..., Any],
    x: TensorOrTuple,
    targets: Any,
    additional_forward_args: Any = None,
    *,
    grid: int | Sequence[int] | None = None,
    sigma: Any = None,
    sigma_px: Any = None,
    mode: str | None = None,
    lam: float | None = None,
    points: Any = None,
    baseline: Any = None,
    probabilities: Probabilities = "softmax",
    batch_size: int | None = None,
    spatial_dims: int = 2,
    progress: ProgressArg = False,
    config: glas_core.GLASConfig | None = None,
) -> glas_core.GLASResult | list[glas_core.GLASResult]:
    """GLAS maps of several targets per example in one sweep (``2P + 1`` forward rows).

    Parameters
    ----------
    model : callable
        Returns ``(B, num_classes)`` logits or probabilities for a batch.
    x : Tensor or tuple of Tensor
        One example ``(C, *spatial)`` -> one result, or a batch ``(N, C, *spatial)`` -> a
        list of N results. ``spatial_dims`` (2 or 3) tells which: a 4-axis tensor is a batch
        of images with ``spatial_dims=2`` and one volume with ``spatial_dims=3``.
    targets : int, sequence of int, or (N, T)
        An int or a 1-D list / tensor: these classes for every example (e.g. the top 5,
        ``model(x[None]).topk(5).indices[0]``); an ``(N, T)`` nested list / tensor: T classes
        per example of a batch.
    additional_forward_args : any, optional
        Extra positional model arguments; tensors carry a batch axis (1 row for a single
        example, N for a batch) and are repeated over the perturbed rows.
    grid, sigma, sigma_px, mode, lam, points, batch_size
        As in :func:`glas_core.explain`; None takes the default (k = 15, sigma = (5, 3, 6)
        grid cells, "fusion", 1e-5, 64 rows per forward call). Giving both ``sigma`` and
        ``sigma_px`` is an error.
    baseline : None, float, Tensor
        What the masks fade to (None means 0, the paper): a number, or a tensor of one
        example's shape (or of the batch's shape, one per example).
    probabilities : "softmax", "sigmoid", None or callable
        How outputs become ``P(y|I)``; softmax and sigmoid are scored as log-probabilities
        (see :mod:`glas_adapters.torch`), None and a callable as probabilities.
    spatial_dims : int
        2 for images, 3 for volumes.
    progress : bool or callable
        True for a tqdm bar over all forward rows of all examples; a callable gets
        ``(done_rows, total_rows)``.
    config : glas_core.GLASConfig, optional
        All settings at once; then none of ``grid`` ... ``batch_size`` may be given.

    Returns
    -------
    GLASResult or list of GLASResult
        ``saliency`` is ``(T, *spatial)`` on ``x``'s device; see :class:`glas_core.GLASResult`.
        With log-probability scores ``saliency * exp(log_scale)`` (per target) is the paper's
        Eq. 3. A batch is explained in one packed stream of forward calls
        (:func:`glas_core.explain_batch`); each result equals that example's alone.
    """
    settings = config_from(config, grid=grid, sigma=sigma, sigma_px=sigma_px, mode=mode, lam=lam,
                           points=points, batch_size=batch_size)
    return _functional(glas_core.explain, model, x, targets, additional_forward_args, baseline, probabilities,
                       spatial_dims, progress, settings, {}, sweeps_per_example=1)


def explain_recursive(
    model: Callable[..., Any],
    x: TensorOrTuple,
    targets: Any,
    additional_forward_args: Any = None,
    *,
    t1: float = 0.8,
    t2: float = 5.0,
    max_iter: int = 5,
    stop: str = "paper",
    min_evidence: float = 0.1,
    reuse_tol: float | None = None,
    grid: int | Sequence[int] | None = None,
    sigma: Any = None,
    sigma_px: Any = None,
    mode: str | None = None,
    lam: float | None = None,
    points: Any = None,
    baseline: Any = None,
    probabilities: Probabilities = "softmax",
    batch_size: int | None = None,
    spatial_dims: int = 2,
    progress: ProgressArg = False,
    config: glas_core.GLASConfig | None = None,
) -> Any:
    """Recursive GLAS (Algorithm 1) per example: finds the next clue after hiding the last.

    Arguments as in :func:`explain`, plus ``t1`` (points where the normalised map exceeds it
    are removed), ``t2`` (stop threshold of ``sqrt(mean(S) / P(y|I))``), ``max_iter``,
    ``stop`` and ``min_evidence``: ``stop="paper"`` is Algorithm 1 as printed (every
    iteration added with weight 1); ``stop="evidence"`` weighs each later iteration by its
    evidence relative to the first and ends the loop, adding nothing, at an iteration whose
    relative evidence is below ``min_evidence`` (see :func:`glas_core.explain_recursive`).
    ``reuse_tol`` (None: full sweeps) keeps the light scores of points whose masks saw at most
    that share of dimming since they were taken (:mod:`glas_core.light_reuse`).
    The progress total grows as iterations start, since their number is not known up front.

    Returns
    -------
    RecursiveResult or list of RecursiveResult
        See :func:`glas_core.explain_recursive`.
    """
    settings = config_from(config, grid=grid, sigma=sigma, sigma_px=sigma_px, mode=mode, lam=lam,
                           points=points, batch_size=batch_size)
    loop = dict(t1=t1, t2=t2, max_iter=max_iter, stop=stop, min_evidence=min_evidence, reuse_tol=reuse_tol)
    return _functional(glas_core.explain_recursive, model, x, targets, additional_forward_args, baseline,
                       probabilities, spatial_dims, progress, settings, loop, sweeps_per_example=None)


def explain_multiscale(
    model: Callable[..., Any],
    x: TensorOrTuple,
    targets: Any,
    additional_forward_args: Any = None,
    *,
    sigmas: Sequence[Any] = (5.0, 3.0, 1.0),
    in_pixels: bool = False,
    adaptive: bool = False,
    keep: float = DEFAULT_KEEP,
    grid: int | Sequence[int] | None = None,
    mode: str | None = None,
    lam: float | None = None,
    baseline: Any = None,
    probabilities: Probabilities = "softmax",
    batch_size: int | None = None,
    spatial_dims: int = 2,
    progress: ProgressArg = False,
    config: glas_core.GLASConfig | None = None,
) -> Any:
    """Coarse-to-fine GLAS: one map per sigma (Figure 1 and 6 of the paper).

    Arguments as in :func:`explain`; ``sigmas`` lists the scales in grid cells (in pixels
    with ``in_pixels=True``), each a scalar or a (light, shadow, spatial) triple. With
    ``config``, each scale replaces the config's sigma. ``adaptive=True`` sweeps each finer
    scale only where the previous scale's map is at least ``keep`` of its peak (the coarsest
    scale first; see :func:`glas_core.explain_multiscale`): about half the forward passes of
    the full sweeps at the default ``keep``; each result's ``n_forward`` counts its rows.

    Returns
    -------
    list of GLASResult, or one such list per example for a batch
        See :func:`glas_core.explain_multiscale`.
    """
    settings = config_from(config, grid=grid, mode=mode, lam=lam, batch_size=batch_size)
    scales = list(sigmas)
    return _functional(glas_core.explain_multiscale, model, x, targets, additional_forward_args, baseline,
                       probabilities, spatial_dims, progress, settings,
                       dict(sigmas=scales, in_pixels=in_pixels, adaptive=adaptive, keep=keep),
                       sweeps_per_example=None if adaptive else len(scales))


def to_visualization(attribution: Tensor | np.ndarray) -> np.ndarray:
    """An attribution (or image) ``(C, H, W)``, ``(1, C, H, W)`` or ``(H, W)`` -> ``(H, W, C)`` NumPy.

    This is the layout ``captum.attr.visualization.visualize_image_attr`` expects for both
    ``attr`` and ``original_image``.
    """
    if isinstance(attribution, Tensor):
        arr = attribution.detach().cpu()
        arr = (arr.float() if arr.dtype in (torch.float16, torch.bfloat16) else arr).numpy()
    elif isinstance(attribution, np.ndarray):
        arr = attribution
    else:
        raise fail("attribution", type(attribution).__name__, "a torch.Tensor or numpy array",
                   "pass one map returned by GLASAttribution.attribute, e.g. maps[0]")
    if arr.ndim == 4 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.ndim == 2:
        return arr[:, :, None].copy()
    if arr.ndim != 3:
        raise fail("attribution", f"shape {arr.shape}", "one map (C, H, W), (1, C, H, W) or (H, W)",
                   "index the batch first, e.g. to_visualization(maps[0])")
    return np.ascontiguousarray(np.transpose(arr, (1, 2, 0)))


def _functional(core_fn: Callable[..., Any], model: Callable[..., Any], x: TensorOrTuple, targets: Any,
                additional_forward_args: Any, baseline: Any, probabilities: Probabilities, spatial_dims: int,
                progress: ProgressArg, settings: glas_core.GLASConfig, core_kwargs: dict[str, Any],
                sweeps_per_example: int | None) -> Any:
    """Run a core entry point per example of a single example or a batch.

    ``sweeps_per_example`` (sweeps of ``settings``' row count) gives the progress total up
    front; None lets it grow as sweeps start.
    """
    if spatial_dims not in (2, 3) or isinstance(spatial_dims, bool):
        raise fail("spatial_dims", spatial_dims, "2 (images) or 3 (volumes)",
                   "use spatial_dims=3 for (C, D, H, W) volumes")
    check_probabilities(probabilities)
    entries = tuple(x) if isinstance(x, (tuple, list)) else (x,)
    first = entries[0] if entries else None
    if not isinstance(first, Tensor) or first.ndim not in (spatial_dims + 1, spatial_dims + 2):
        shown = f"shape {tuple(first.shape)}" if isinstance(first, Tensor) else type(first).__name__
        kind = "(C, H, W)" if spatial_dims == 2 else "(C, D, H, W)"
        raise fail("x", shown, f"one example {kind} or a batch (N, {kind[1:]} with spatial_dims={spatial_dims}",
                   "add a channel axis for grey images (x[None]) and pass spatial_dims=3 for volumes")
    batched = first.ndim == spatial_dims + 2
    if not batched:
        entries = tuple(t.unsqueeze(0) if isinstance(t, Tensor) else t for t in entries)
    layout = layout_of(entries if isinstance(x, (tuple, list)) else entries[0])
    per_example = format_multi_targets(targets, layout.num_examples, batched)
    baselines = format_baselines(baseline, layout, name="baseline")
    rows = settings.resolve(layout.spatial_shape).rows.n_rows  # also checks the settings before any forward
    total = None if sweeps_per_example is None else rows * sweeps_per_example * layout.num_examples
    with Progress(progress, total=total) as report:
        results = explain_examples(core_fn, model, layout, per_example, additional_forward_args, baselines,
                                   probabilities, report, settings, core_kwargs, target_name="targets", input_name="x",
                                   several_sweeps=core_fn is not glas_core.explain)
    return results if batched else results[0]
