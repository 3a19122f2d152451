"""The functional API: explain, explain_recursive, explain_multiscale for PyTorch models.

Every function takes one example ``(C, *spatial)`` or a batch ``(N, C, *spatial)`` and the
keywords every adapter shares (``targets``, ``grid``, ``sigma``, ``sigma_px``, ``mode``,
``lam``, ``baseline``, ``batch_size``, ``progress``, ``probabilities``, ``config``,
``return_result``), with the same meaning and return shapes as in Keras and ONNX Runtime
(the contract: :mod:`glas_adapters._engine.targets`, :mod:`glas_adapters._engine.run`). A
setting left at None takes the core's default (grid 15, sigma (5, 3, 6) grid cells, mode
"fusion", lam 1e-5, batch 64).
"""

from __future__ import annotations

import numbers
import warnings
from collections.abc import Callable, Sequence
from typing import Any, TypeAlias

import numpy as np
import torch
from torch import Tensor

import glas_core
from glas_core.adaptive import DEFAULT_KEEP
from glas_core.config import config_from
from glas_core.errors import fail

from .. import _engine
from .._common import ProgressFn, user_stacklevel
from .backend import TorchBackend
from .inputs import layout_of, spatial_dims_of
from .onnx_runtime import check_runtime, torch_backend

TensorOrTuple: TypeAlias = Tensor | tuple[Tensor, ...]
ProgressArg: TypeAlias = bool | ProgressFn | None
#: How model outputs become P(y|I): "softmax", "sigmoid", None (already probabilities) or a callable.
Probabilities: TypeAlias = str | None | Callable[[Tensor], Tensor]

def explain(
    model: Callable[..., Any],
    x: TensorOrTuple,
    targets: Any = None,
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
    spatial_dims: int | None = None,
    progress: ProgressArg = False,
    config: glas_core.GLASConfig | None = None,
    return_result: bool = False,
    runtime: str = "torch",
) -> Any:
    """GLAS maps of every target of every example in one packed sweep (``2P + 1`` rows per example).

    Parameters
    ----------
    model : callable
        Returns ``(B, num_classes)`` logits or probabilities for a batch.
    x : Tensor or tuple of Tensor
        One example ``(C, *spatial)`` or a batch ``(N, C, *spatial)``; ``spatial_dims`` (1, 2
        or 3) tells which: a 3-axis tensor is a batch of series ``(N, C, T)`` with
        ``spatial_dims=1`` and one image with ``spatial_dims=2``; a 4-axis tensor is a batch of
        images with ``spatial_dims=2`` and one volume with ``spatial_dims=3``.
    targets : int, list, (N, T) nested list / tensor, or None
        The contract of every adapter: an int is that class for every example; None each
        example's predicted class; a list is one class per example of a batch (Captum's
        rule) and several classes (one map each) for a single example; an ``(N, T)`` nested
        list or tensor is T classes per example. All are explained in one sweep.
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
        How outputs become ``P(y|I)``; softmax and sigmoid are scored as log-probabilities,
        None and a callable as probabilities (see :mod:`glas_adapters._engine.scores`).
    spatial_dims : int, optional
        1 for series ``(C, T)``, 2 for images, 3 for volumes and ``(C, T, H, W)`` clips. None
        (default): from the model's first convolution (Conv1d: 1, Conv3d: 3), else 2.
    progress : bool or callable
        True for a tqdm bar over all forward rows; a callable gets ``(done_rows, total_rows)``.
    config : glas_core.GLASConfig, optional
        All settings at once; then none of ``grid`` ... ``batch_size`` may be given.
    return_result : bool
        Return the :class:`glas_core.GLASResult` of each example instead of the maps.
    runtime : {"torch", "onnx"}
        Run the sweep's forward passes in PyTorch, or in ONNX Runtime on the model exported
        once per input shape (several times faster on a CPU for most networks; checked against
        PyTorch on the clean examples, to 1e-4). What ONNX Runtime cannot run as PyTorch does
        (tuple inputs, extra arguments, train mode, GPU tensors, a model that does not export)
        runs in PyTorch with a warning saying why (:mod:`glas_adapters.torch.onnx_runtime`).

    Returns
    -------
    Tensor, or GLASResult / list of GLASResult with ``return_result=True``
        Maps on ``x``'s device: ``(N, *spatial)`` for a batch (``(N, T, *spatial)`` when
        several classes per example were asked for), without N for one example.
        ``return_result=True`` gives the core's result of each example instead (one for a
        single example, a list for a batch), whose ``saliency`` is ``(T, *spatial)``; with
        log-probability scores ``saliency * exp(log_scale)`` (per target) is the paper's Eq. 3.
    """
    settings = config_from(config, grid=grid, sigma=sigma, sigma_px=sigma_px, mode=mode, lam=lam,
                           points=points, batch_size=batch_size)
    backend, request = _prepare(model, x, targets, additional_forward_args, spatial_dims, runtime)
    return _engine.explain(backend, request, probabilities=probabilities, config=settings, baseline=baseline,
                           progress=progress, return_result=return_result)


def explain_recursive(
    model: Callable[..., Any],
    x: TensorOrTuple,
    targets: Any = None,
    additional_forward_args: Any = None,
    *,
    t1: float = 0.8,
    t2: float = 5.0,
    max_iter: int = 5,
    stop: str = "paper",
    min_evidence: float = 0.1,
    reuse_tol: float | None = None,
    dim: str = "map",
    grid: int | Sequence[int] | None = None,
    sigma: Any = None,
    sigma_px: Any = None,
    mode: str | None = None,
    lam: float | None = None,
    points: Any = None,
    baseline: Any = None,
    probabilities: Probabilities = "softmax",
    batch_size: int | None = None,
    spatial_dims: int | None = None,
    progress: ProgressArg = False,
    config: glas_core.GLASConfig | None = None,
    return_result: bool = False,
    runtime: str = "torch",
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
    ``dim="above_t1"`` dims each image only where the normalised map exceeds ``t1``
    (``dim="map"``, the default, dims by the whole map, Algorithm 1); with ``sigma=1.0``,
    ``stop="evidence"``, ``min_evidence=0.5`` and ``max_iter=2`` it is the setting that
    separates instances (``glas_core.recursive.SEPARATE_INSTANCES``). Several classes per
    example share each sweep. The progress total grows as iterations start.

    Returns
    -------
    Tensor, or RecursiveResult / list of RecursiveResult with ``return_result=True``
        The accumulated maps, shaped as :func:`explain`'s.
    """
    settings = config_from(config, grid=grid, sigma=sigma, sigma_px=sigma_px, mode=mode, lam=lam,
                           points=points, batch_size=batch_size)
    backend, request = _prepare(model, x, targets, additional_forward_args, spatial_dims, runtime)
    loop = dict(t1=t1, t2=t2, max_iter=max_iter, stop=stop, min_evidence=min_evidence, reuse_tol=reuse_tol,
                dim=dim)
    return _engine.explain_recursive(backend, request, probabilities=probabilities, config=settings,
                                     baseline=baseline, progress=progress, return_result=return_result, loop=loop)


def explain_multiscale(
    model: Callable[..., Any],
    x: TensorOrTuple,
    targets: Any = None,
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
    spatial_dims: int | None = None,
    progress: ProgressArg = False,
    config: glas_core.GLASConfig | None = None,
    return_result: bool = False,
    runtime: str = "torch",
) -> Any:
    """Coarse-to-fine GLAS: one map per sigma (Figure 1 and 6 of the paper).

    Arguments as in :func:`explain`; ``sigmas`` lists the scales in grid cells (in pixels
    with ``in_pixels=True``), each a scalar or a (light, shadow, spatial) triple; a
    ``config``'s own sigma is not used. Each scale is one packed sweep over all examples.
    ``adaptive=True`` sweeps each finer scale only where the previous scale's map is at least
    ``keep`` of its peak (the coarsest scale first; see :func:`glas_core.explain_multiscale`):
    about half the forward passes of the full sweeps at the default ``keep``; each result's
    ``n_forward`` counts its rows.

    Returns
    -------
    Tensor, or lists of GLASResult with ``return_result=True``
        ``(N, S, *spatial)`` maps for ``S = len(sigmas)`` (``(N, S, T, *spatial)`` with several
        classes per example), without N for one example; or one list of results per example.
    """
    settings = config_from(config, grid=grid, mode=mode, lam=lam, batch_size=batch_size)
    _engine.check_scales(sigmas)
    backend, request = _prepare(model, x, targets, additional_forward_args, spatial_dims, runtime)
    return _engine.explain_multiscale(backend, request, probabilities=probabilities, config=settings,
                                      baseline=baseline, progress=progress, return_result=return_result,
                                      sigmas=sigmas, in_pixels=in_pixels, adaptive=adaptive, keep=keep)


def to_visualization(attribution: Tensor | np.ndarray) -> np.ndarray:
    """An attribution (or image) ``(C, H, W)``, ``(1, C, H, W)`` or ``(H, W)`` -> ``(H, W, C)`` NumPy.

    This is the layout ``captum.attr.visualization.visualize_image_attr`` expects for both
    ``attr`` and ``original_image``.
    """
    if isinstance(attribution, Tensor):
        host = attribution.detach().cpu()
        arr = (host.float() if host.dtype in (torch.float16, torch.bfloat16) else host).numpy()
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


def _prepare(model: Callable[..., Any], x: TensorOrTuple, targets: Any, additional_forward_args: Any,
             spatial_dims: int | None, runtime: str) -> tuple[TorchBackend, _engine.TargetRequest]:
    """The backend and the target request of one functional call, checked before any forward pass."""
    check_runtime(runtime)
    if spatial_dims is None:
        spatial_dims = spatial_dims_of(model)
    if spatial_dims not in (1, 2, 3) or isinstance(spatial_dims, bool):
        raise fail("spatial_dims", spatial_dims, "1 (series), 2 (images) or 3 (volumes, clips)",
                   "use spatial_dims=1 for (C, T) series, 3 for (C, D, H, W) volumes")
    entries = tuple(x) if isinstance(x, (tuple, list)) else (x,)
    first = entries[0] if entries else None
    if not isinstance(first, Tensor) or first.ndim not in (spatial_dims + 1, spatial_dims + 2):
        shown = f"shape {tuple(first.shape)}" if isinstance(first, Tensor) else type(first).__name__
        kind = {1: "(C, T)", 2: "(C, H, W)", 3: "(C, D, H, W)"}[spatial_dims]
        raise fail("x", shown, f"one example {kind} or a batch (N, {kind[1:]} with spatial_dims={spatial_dims}",
                   "add a channel axis for grey images and one-channel series (x[None]); pass spatial_dims=1 for "
                   "series, 3 for volumes")
    batched = first.ndim == spatial_dims + 2
    if not batched:
        entries = tuple(t.unsqueeze(0) if isinstance(t, Tensor) else t for t in entries)
    layout = layout_of(entries if isinstance(x, (tuple, list)) else entries[0], model, "x")
    _warn_flat_list(targets, layout.num_examples, batched)
    request = _engine.read_targets(targets, layout.num_examples, single=not batched)
    backend = torch_backend(model, layout, not batched, additional_forward_args, runtime, input_name="x",
                            baseline_name="baseline")
    return backend, request


def _warn_flat_list(targets: Any, n_examples: int, batched: bool) -> None:
    """A flat list of N classes for a batch of N changed meaning in 0.3: say so, for one release."""
    if not batched or n_examples < 2 or isinstance(targets, (numbers.Number, str)) or targets is None:
        return
    if np.ndim(targets.detach().cpu().numpy() if isinstance(targets, Tensor) else targets) != 1:
        return
    warnings.warn(
        f"targets is a flat list for a batch of {n_examples}: since glas 0.3 it means one class per example "
        "(Captum's rule, as in every adapter); before, the torch functional API read it as every class for every "
        "example. For that, pass one list per example, e.g. targets=[[1, 3]] * len(x).",
        FutureWarning, stacklevel=user_stacklevel())
