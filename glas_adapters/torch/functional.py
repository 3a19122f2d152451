"""GLAS for PyTorch: a Captum attribution and a functional API.

>>> from glas_adapters.torch import GLASAttribution
>>> maps = GLASAttribution(model).attribute(x, target=y)          # x (N, C, H, W) -> maps (N, C, H, W)

>>> from glas_adapters import torch as glas_torch
>>> result = glas_torch.explain(model, image, targets=[281, 282])  # image (C, H, W): both maps in one sweep
>>> result.saliency.shape                                          # (2, H, W)

The adapter only builds ``score_fn(batch) -> (B, T)`` probabilities from the model and calls
:func:`glas_core.explain` (Eq. 1-3 of the paper), :func:`glas_core.explain_recursive`
(Algorithm 1) or :func:`glas_core.explain_multiscale` once per example. Masks are built by
the core on the input's device and in its dtype; the model is never moved, converted or put
in another mode, and every forward pass runs under ``torch.no_grad()``.

Tuple inputs: the first tensor defines the spatial layout; every floating entry with the
same spatial size is perturbed with the same mask (one map for all of them), other entries
are passed to the model unchanged and get zero attribution (see ``_torch_inputs``).
"""

from __future__ import annotations

import numbers
from typing import Any, Callable, Sequence, Union

import numpy as np
import torch
from captum.attr import PerturbationAttribution
from captum.log import log_usage
from torch import Tensor

import glas_core
from glas_core import GLASError

from ._torch_inputs import (
    ExampleLayout,
    format_additional_args,
    format_baselines,
    format_multi_targets,
    format_targets,
    layout_of,
)
from ._torch_scores import ModelScorer, Probabilities, check_probabilities

__all__ = ["GLASAttribution", "explain", "explain_recursive", "explain_multiscale", "to_visualization"]

TensorOrTuple = Union[Tensor, tuple[Tensor, ...]]
_DEFAULT_SIGMA = (5, 3, 6)


class GLASAttribution(PerturbationAttribution):
    """Gaussian Light and Shadow (GLAS) as a Captum perturbation attribution.

    For each example, the input is lit by a Gaussian (Eq. 1) and shadowed by its complement
    (Eq. 2) at every point of a ``grid x grid`` search, and the target probabilities of the
    perturbed inputs are fused into a map with a Gaussian mixture (Eq. 3). The cost is
    ``2 * grid**2 + 1`` forward rows per example, ``perturbations_per_eval`` at a time.

    Parameters
    ----------
    forward_func : callable
        The model, or any callable ``forward_func(*inputs, *additional_forward_args)``
        returning ``(N, num_classes)`` logits or probabilities (or ``(N,)`` scores).
    """

    def __init__(self, forward_func: Callable[..., Any]) -> None:
        super().__init__(forward_func)

    @property
    def multiplies_by_inputs(self) -> bool:
        """GLAS maps are not multiplied by the inputs."""
        return False

    @log_usage()
    def attribute(
        self,
        inputs: TensorOrTuple,
        target: Any = None,
        additional_forward_args: Any = None,
        *,
        grid: int | Sequence[int] = 15,
        sigma: float | Sequence[float] = _DEFAULT_SIGMA,
        sigma_px: Any = None,
        mode: str = "fusion",
        baselines: Any = None,
        probabilities: Probabilities = "softmax",
        perturbations_per_eval: int = 64,
        show_progress: bool = False,
    ) -> TensorOrTuple:
        """GLAS maps for a batch, broadcast over channels to the shape of ``inputs``.

        Parameters
        ----------
        inputs : Tensor or tuple of Tensor
            ``(N, C, H, W)`` images or ``(N, C, D, H, W)`` volumes (GLAS on the 3 spatial
            axes). A tuple: entries sharing the first entry's spatial size are perturbed
            with the same mask; the others are passed through unchanged.
        target : int, list of int, Tensor or None
            Captum's rule: one class for all examples (int, 0-d tensor) or one per example
            (list or 1-D tensor of N). None only for models with one output per example.
        additional_forward_args : any, optional
            Extra positional arguments after the inputs. Tensors with N rows are sliced per
            example and repeated over the perturbed rows; other values are passed as is.
        grid : int or tuple of int
            Search points per spatial axis (``k``; the paper uses 15).
        sigma : float or (light, shadow, spatial)
            Gaussian scales in grid cells (DESIGN.md section 3); a scalar sets all three.
        sigma_px : float or triple, optional
            The scales in pixels instead of ``sigma``.
        mode : {"fusion", "light", "shadow"}
            Eq. 3 weights ``f_l f_s`` (GLAS), or one term alone (Table 2 ablation).
        baselines : None, float, Tensor or tuple
            What the masks fade to: rows are ``b + (x - b) * M`` (None means 0, the paper).
            A tensor of the input's shape (one per example) or of one example's shape.
        probabilities : "softmax", "sigmoid", None or callable
            How outputs become ``P(y|I)``: softmax over the last axis (logits of a
            classifier), sigmoid (multi-label logits), None (outputs are probabilities).
        perturbations_per_eval : int
            Rows per forward call; memory is bounded by it, not by ``grid``.
        show_progress : bool
            Show a tqdm bar whose total is the exact number of forward rows.

        Returns
        -------
        Tensor or tuple of Tensor
            One map per example, broadcast over channels: the shape and dtype of ``inputs``.

        Raises
        ------
        GLASError
            Bad inputs, targets, baselines or settings, or model outputs of the wrong shape,
            not finite, or (with ``probabilities=None``) outside [0, 1].
        """
        layout = layout_of(inputs)
        n = layout.num_examples
        targets, single_output = format_targets(target, n)
        check_probabilities(probabilities)
        _check_batch_size("perturbations_per_eval", perturbations_per_eval)
        sigma, sigma_px = _resolve_sigma(sigma, sigma_px)
        results = _explain_examples(
            glas_core.explain, self.forward_func, layout, targets, additional_forward_args,
            format_baselines(baselines, layout), probabilities, single_output, show_progress,
            dict(grid=grid, sigma=sigma, sigma_px=sigma_px, mode=mode, batch_size=perturbations_per_eval),
        )
        maps = torch.stack([r.saliency[0] for r in results])
        out = layout.broadcast(maps)
        return out if layout.is_tuple else out[0]


def explain(
    model: Callable[..., Any],
    x: TensorOrTuple,
    targets: Any,
    additional_forward_args: Any = None,
    *,
    grid: int | Sequence[int] | None = None,
    sigma: Any = None,
    sigma_px: Any = None,
    mode: str = "fusion",
    lam: float = 1e-5,
    points: Any = None,
    baseline: Any = None,
    probabilities: Probabilities = "softmax",
    batch_size: int = 64,
    spatial_dims: int = 2,
    show_progress: bool = False,
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
    grid, sigma, sigma_px, mode, lam, points
        As in :func:`glas_core.explain` (defaults: k = 15, sigma = (5, 3, 6) grid cells).
    baseline : None, float, Tensor
        What the masks fade to (None means 0, the paper).
    probabilities : "softmax", "sigmoid", None or callable
        How outputs become ``P(y|I)``.
    batch_size : int
        Rows per forward call.
    spatial_dims : int
        2 for images, 3 for volumes.
    show_progress : bool
        A tqdm bar over all forward rows of all examples.

    Returns
    -------
    GLASResult or list of GLASResult
        ``saliency`` is ``(T, *spatial)`` on ``x``'s device; see :class:`glas_core.GLASResult`.
    """
    return _functional(glas_core.explain, model, x, targets, additional_forward_args, baseline,
                       probabilities, spatial_dims, show_progress,
                       dict(grid=grid, sigma=sigma, sigma_px=sigma_px, mode=mode, lam=lam,
                            points=points, batch_size=batch_size))


def explain_recursive(
    model: Callable[..., Any],
    x: TensorOrTuple,
    targets: Any,
    additional_forward_args: Any = None,
    *,
    t1: float = 0.8,
    t2: float = 5.0,
    max_iter: int = 5,
    grid: int | Sequence[int] | None = None,
    sigma: Any = None,
    sigma_px: Any = None,
    mode: str = "fusion",
    lam: float = 1e-5,
    points: Any = None,
    baseline: Any = None,
    probabilities: Probabilities = "softmax",
    batch_size: int = 64,
    spatial_dims: int = 2,
) -> Any:
    """Recursive GLAS (Algorithm 1) per example: finds the next clue after hiding the last.

    Arguments as in :func:`explain`, plus ``t1`` (points where the normalised map exceeds it
    are removed), ``t2`` (stop threshold of ``sqrt(mean(S) / P(y|I))``) and ``max_iter``.

    Returns
    -------
    RecursiveResult or list of RecursiveResult
        See :func:`glas_core.explain_recursive`.
    """
    return _functional(glas_core.explain_recursive, model, x, targets, additional_forward_args, baseline,
                       probabilities, spatial_dims, False,
                       dict(t1=t1, t2=t2, max_iter=max_iter, grid=grid, sigma=sigma, sigma_px=sigma_px,
                            mode=mode, lam=lam, points=points, batch_size=batch_size))


def explain_multiscale(
    model: Callable[..., Any],
    x: TensorOrTuple,
    targets: Any,
    additional_forward_args: Any = None,
    *,
    sigmas: Sequence[Any] = (5.0, 3.0, 1.0),
    in_pixels: bool = False,
    grid: int | Sequence[int] | None = None,
    mode: str = "fusion",
    lam: float = 1e-5,
    baseline: Any = None,
    probabilities: Probabilities = "softmax",
    batch_size: int = 64,
    spatial_dims: int = 2,
) -> Any:
    """Coarse-to-fine GLAS: one map per sigma (Figure 1 and 6 of the paper).

    Arguments as in :func:`explain`; ``sigmas`` lists the scales in grid cells (in pixels
    with ``in_pixels=True``), each a scalar or a (light, shadow, spatial) triple.

    Returns
    -------
    list of GLASResult, or one such list per example for a batch
        See :func:`glas_core.explain_multiscale`.
    """
    return _functional(glas_core.explain_multiscale, model, x, targets, additional_forward_args, baseline,
                       probabilities, spatial_dims, False,
                       dict(sigmas=list(sigmas), in_pixels=in_pixels, grid=grid, mode=mode, lam=lam, batch_size=batch_size))


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
        raise GLASError(f"attribution must be a torch.Tensor or numpy array, got {type(attribution).__name__}; "
                        "pass one map returned by GLASAttribution.attribute, e.g. maps[0]")
    if arr.ndim == 4 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.ndim == 2:
        return arr[:, :, None].copy()
    if arr.ndim != 3:
        raise GLASError(f"attribution must be one map (C, H, W), (1, C, H, W) or (H, W), got shape {arr.shape}; "
                        "index the batch first, e.g. to_visualization(maps[0])")
    return np.ascontiguousarray(np.transpose(arr, (1, 2, 0)))


# ---------------------------------------------------------------------------------------------
# shared machinery


def _functional(core_fn: Callable[..., Any], model: Callable[..., Any], x: TensorOrTuple, targets: Any,
                additional_forward_args: Any, baseline: Any, probabilities: Probabilities, spatial_dims: int,
                show_progress: bool, core_kwargs: dict[str, Any]) -> Any:
    """Run a core entry point per example of a single example or a batch."""
    if spatial_dims not in (2, 3) or isinstance(spatial_dims, bool):
        raise GLASError(f"spatial_dims must be 2 (images) or 3 (volumes), got {spatial_dims!r}; "
                        "use spatial_dims=3 for (C, D, H, W) volumes")
    if "batch_size" in core_kwargs:
        _check_batch_size("batch_size", core_kwargs["batch_size"])
    check_probabilities(probabilities)
    entries = tuple(x) if isinstance(x, (tuple, list)) else (x,)
    first = entries[0] if entries else None
    if not isinstance(first, Tensor) or first.ndim not in (spatial_dims + 1, spatial_dims + 2):
        shown = tuple(first.shape) if isinstance(first, Tensor) else type(first).__name__
        kind = "(C, H, W)" if spatial_dims == 2 else "(C, D, H, W)"
        raise GLASError(f"x must be one example {kind} or a batch (N, {kind[1:]} with spatial_dims="
                        f"{spatial_dims}, got {shown}; add a channel axis for grey images (x[None]) and "
                        "pass spatial_dims=3 for volumes")
    batched = first.ndim == spatial_dims + 2
    if not batched:
        entries = tuple(t.unsqueeze(0) if isinstance(t, Tensor) else t for t in entries)
    layout = layout_of(entries if isinstance(x, (tuple, list)) else entries[0])
    per_example = format_multi_targets(targets, layout.num_examples, batched)
    results = _explain_examples(core_fn, model, layout, per_example, additional_forward_args,
                                format_baselines(baseline, layout), probabilities, False, show_progress,
                                core_kwargs)
    return results if batched else results[0]


def _explain_examples(core_fn: Callable[..., Any], forward_func: Callable[..., Any], layout: ExampleLayout,
                      targets: list[Tensor], additional_forward_args: Any, baselines: tuple[Any, ...],
                      probabilities: Probabilities, single_output: bool, show_progress: bool,
                      core_kwargs: dict[str, Any]) -> list[Any]:
    """Call ``core_fn(score_fn, example, ...)`` for every example, under ``torch.no_grad()``."""
    extra, per_example = format_additional_args(additional_forward_args, layout.num_examples)
    results = []
    with torch.no_grad(), _ProgressBar(show_progress, layout.num_examples) as bar:
        for i in range(layout.num_examples):
            scorer = ModelScorer(forward_func, targets[i], probabilities,
                                 layout.assembler(i, extra, per_example), single_output)
            progress = {"progress": bar.update} if show_progress else {}
            results.append(core_fn(scorer, layout.example(i), spatial_axes=layout.spatial_axes,
                                   baseline=layout.baseline(i, baselines), **progress, **core_kwargs))
    return results


class _ProgressBar:
    """A tqdm bar over all examples, fed by the core's ``progress(done, total)`` callbacks.

    The bar is opened at the first callback with ``total = rows per example * examples``:
    every example runs the same sweep, so the total is exact.
    """

    def __init__(self, enabled: bool, num_examples: int) -> None:
        self.enabled = enabled
        self.num_examples = num_examples
        self.bar: Any = None
        self._last = 0

    def __enter__(self) -> "_ProgressBar":
        return self

    def update(self, done: int, total: int) -> None:
        if self.bar is None:
            from tqdm.auto import tqdm
            self.bar = tqdm(total=total * self.num_examples, desc="GLAS", unit="row")
        self.bar.update(done - self._last)
        self._last = 0 if done >= total else done

    def __exit__(self, *exc: Any) -> None:
        if self.bar is not None:
            self.bar.close()


def _check_batch_size(name: str, value: Any) -> None:
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 1:
        raise GLASError(f"{name} must be a positive int, got {value!r}; use {name}=64 (fewer rows per "
                        "forward call if the GPU runs out of memory)")


def _resolve_sigma(sigma: Any, sigma_px: Any) -> tuple[Any, Any]:
    """``sigma`` keeps its default when ``sigma_px`` is given; both set explicitly is an error."""
    if sigma_px is None:
        return sigma, None
    if sigma is not None and not (isinstance(sigma, (tuple, list)) and tuple(sigma) == _DEFAULT_SIGMA):
        raise GLASError(f"sigma must be left at its default when sigma_px is given, got sigma={sigma!r} and "
                        f"sigma_px={sigma_px!r}; give the scales in grid cells (sigma) or in pixels "
                        "(sigma_px), not both")
    return None, sigma_px
