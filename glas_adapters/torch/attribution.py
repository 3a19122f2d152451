"""GLAS as a Captum perturbation attribution: tensor in, tensor of the same shape out."""

from __future__ import annotations

import numbers
from collections.abc import Callable, Sequence
from typing import Any, TypeAlias

import torch
from captum.attr import PerturbationAttribution
from captum.log import log_usage
from torch import Tensor

import glas_core
from glas_core.config import config_from
from glas_core.errors import fail, quoted

from .. import _engine
from .functional import Probabilities
from .inputs import format_targets, layout_of
from .onnx_runtime import check_runtime, torch_backend

TensorOrTuple: TypeAlias = Tensor | tuple[Tensor, ...]


class GLASAttribution(PerturbationAttribution):
    """Gaussian Light and Shadow (GLAS) as a Captum perturbation attribution.

    For each example, the input is lit by a Gaussian (Eq. 1) and shadowed by its complement
    (Eq. 2) at every point of a ``grid x grid`` search, and the target probabilities of the
    perturbed inputs are fused into a map with a Gaussian mixture (Eq. 3). The cost is
    ``2 * grid**2 + 1`` forward rows per example, ``perturbations_per_eval`` at a time: the
    rows of all examples form one packed stream, so every forward call but the last is full.

    Parameters
    ----------
    forward_func : callable
        The model, or any callable ``forward_func(*inputs, *additional_forward_args)``
        returning ``(N, num_classes)`` logits or probabilities (or ``(N,)`` scores).
    runtime : {"torch", "onnx"}
        Where the sweep's forward passes run: PyTorch, or ONNX Runtime on the model exported
        once per input shape and checked against PyTorch (see :mod:`glas_adapters.torch.onnx_runtime`;
        what ONNX Runtime cannot run as PyTorch does runs in PyTorch, with a warning).
    """

    def __init__(self, forward_func: Callable[..., Any], runtime: str = "torch") -> None:
        super().__init__(forward_func)
        self.runtime = check_runtime(runtime)

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
        grid: int | Sequence[int] | None = None,
        sigma: float | Sequence[float] | None = None,
        sigma_px: Any = None,
        mode: str | None = None,
        baselines: Any = None,
        probabilities: Probabilities = "softmax",
        perturbations_per_eval: int | None = None,
        show_progress: bool = False,
        config: glas_core.GLASConfig | None = None,
    ) -> TensorOrTuple:
        """GLAS maps for a batch, broadcast over channels to the shape of ``inputs``.

        Captum's names are kept (``baselines``, ``perturbations_per_eval``,
        ``show_progress``); the other settings are those of :func:`glas_core.explain`, and
        None means the core's default.

        Parameters
        ----------
        inputs : Tensor or tuple of Tensor
            ``(N, C, T)`` series (GLAS along T), ``(N, C, H, W)`` images or ``(N, C, D, H, W)``
            volumes and ``(N, C, T, H, W)`` clips (GLAS on the 3 spatial axes). A ``(N, T, C)``
            series is refused when the model's first layer shows it (see
            :func:`glas_adapters.torch.inputs.check_series_layout`). A tuple: entries sharing the
            first entry's spatial size are perturbed with the same mask; the others are passed
            through unchanged.
        target : int, list of int, Tensor or None
            Captum's rule: one class for all examples (int, 0-d tensor) or one per example
            (list or 1-D tensor of N). None only for models with one output per example.
        additional_forward_args : any, optional
            Extra positional arguments after the inputs. Tensors with N rows are sliced per
            example and repeated over the perturbed rows; other values are passed as is.
        grid : int or tuple of int, optional
            Search points per spatial axis (``k``; None: 15, the paper's setting).
        sigma : float or (light, shadow, spatial), optional
            Gaussian scales in grid cells (None: (5, 3, 6)); a scalar sets all three, and each
            entry may be a per-axis tuple. One grid cell is the side over ``k`` along each axis
            (``docs/paper-readings.md``, "sigma units").
        sigma_px : float or triple, optional
            The scales in pixels instead of ``sigma`` (giving both is an error).
        mode : {"fusion", "light", "shadow"}, optional
            Eq. 3 weights ``f_l f_s`` (None: "fusion", GLAS), or one term alone (Table 2 ablation).
        baselines : None, float, Tensor or tuple
            What the masks fade to: rows are ``b + (x - b) * M`` (None means 0, the paper).
            A tensor of the input's shape (one per example) or of one example's shape.
        probabilities : "softmax", "sigmoid", None or callable
            How outputs become ``P(y|I)``: softmax over the last axis (logits of a
            classifier), sigmoid (multi-label logits), both scored as log-probabilities; None
            (outputs are probabilities) or a callable ``outputs -> probabilities`` (it gets
            the outputs in float32, or float64).
        perturbations_per_eval : int, optional
            Rows per forward call (None: 64); memory is bounded by it, not by ``grid``.
        show_progress : bool
            Show a tqdm bar whose total is the exact number of forward rows.
        config : glas_core.GLASConfig, optional
            All GLAS settings at once; then ``grid``, ``sigma``, ``sigma_px``, ``mode`` and
            ``perturbations_per_eval`` must be left out.

        Returns
        -------
        Tensor or tuple of Tensor
            One map per example, broadcast over channels: the shape and dtype of ``inputs``.
            With softmax or sigmoid scores each map is the paper's Eq. 3 divided by its own
            positive factor (its largest point weight), so maps compare in shape, not in size,
            across examples; :func:`glas_adapters.torch.explain` returns the factor
            (``log_scale``). Each map equals the map of its example explained alone, bit for
            bit when the model scores each row independently of its batch (eval mode).

        Raises
        ------
        GLASError
            Bad inputs, targets, baselines or settings; inputs whose dtype or channel count
            the model does not take (they are not cast); model outputs of the wrong shape, not
            finite, or (with ``probabilities=None``) outside [0, 1].

        Warns
        -----
        UserWarning
            The model is in train mode (Dropout, BatchNorm: call ``model.eval()``), or it
            already ends in softmax while ``probabilities="softmax"``.
        """
        layout = layout_of(inputs, self.forward_func)
        targets, single_output = format_targets(target, layout.num_examples)
        request = _engine.TargetRequest(torch.stack(targets).numpy(), several=False, single_output=single_output,
                                        name="target")
        check_rows_per_call("perturbations_per_eval", perturbations_per_eval)
        settings = config_from(config, grid=grid, sigma=sigma, sigma_px=sigma_px, mode=mode,
                               batch_size=perturbations_per_eval)
        backend = torch_backend(self.forward_func, layout, False, additional_forward_args, self.runtime)
        maps = _engine.explain(backend, request, probabilities=probabilities, config=settings, baseline=baselines,
                               progress=show_progress, return_result=False)
        out = layout.broadcast(maps)
        return out if layout.is_tuple else out[0]


def check_rows_per_call(name: str, value: Any) -> None:
    """Refuse a rows-per-forward-call setting that is not a positive int, under the caller's name."""
    if value is None:
        return
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 1:
        raise fail(name, quoted(value), "a positive int",
                   f"use {name}=64 (fewer rows per forward call if the GPU runs out of memory)")
