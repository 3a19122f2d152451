"""GLAS as a Quantus ``explain_func``: NumPy in, NumPy out.

Quantus metrics call ``explain_func(model=model, inputs=x_batch, targets=y_batch,
**explain_func_kwargs)`` with channel-first ``(N, C, H, W)`` NumPy inputs and ``(N,)`` integer
targets, and expect an ``(N, 1, H, W)`` (or ``(N, H, W)``) array back:

>>> import quantus
>>> from glas_adapters.quantus import explain_func
>>> quantus.PointingGame()(model=model, x_batch=x, y_batch=y, s_batch=s,
...                        explain_func=explain_func, explain_func_kwargs={"grid": 15})

This module does not import Quantus; it only follows its calling convention.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from glas_core.errors import fail, quoted

from .torch import GLASAttribution

_ACCEPTED = ("device", "grid", "sigma", "sigma_px", "mode", "baselines", "probabilities",
             "perturbations_per_eval", "config", "channel_first", "keepdims")


def explain_func(model: Any, inputs: Any, targets: Any, **kwargs: Any) -> np.ndarray:
    """GLAS maps of a batch for Quantus, one map per example (one channel).

    Quantus hands over NumPy arrays, so they are converted here to a tensor of the model's
    parameter dtype on ``device`` (unlike ``GLASAttribution``, which refuses an input of
    another dtype rather than casting it). The maps come from
    :meth:`~glas_adapters.torch.GLASAttribution.attribute`: each is the paper's Eq. 3 divided by
    its own positive factor (log-probability scores); Quantus' metrics normalise maps by
    default (``normalise=True``) or only rank them.

    Parameters
    ----------
    model : torch.nn.Module or callable
        Returns ``(N, num_classes)`` logits (or probabilities, with ``probabilities=None``).
        It is never moved: inputs go to ``device`` (default: the model's parameter device).
    inputs : numpy.ndarray or Tensor
        ``(N, C, H, W)`` (``(N, H, W, C)`` with ``channel_first=False``) or volumes.
    targets : numpy.ndarray, list or int
        One class per example (or one for all).
    **kwargs
        ``device``; ``grid``, ``sigma``, ``sigma_px``, ``mode``, ``baselines``,
        ``probabilities``, ``perturbations_per_eval``, ``config`` as in
        :meth:`glas_adapters.torch.GLASAttribution.attribute`; ``channel_first`` (default
        True, Quantus' layout); ``keepdims`` (default True: ``(N, 1, *spatial)``, False:
        ``(N, *spatial)``).

    Returns
    -------
    numpy.ndarray
        float32 maps ``(N, 1, *spatial)`` (or ``(N, *spatial)``), non-negative.
    """
    unknown = sorted(set(kwargs) - set(_ACCEPTED))
    if unknown:
        raise fail("explain_func keyword arguments", ", ".join(unknown), f"among {', '.join(_ACCEPTED)}",
                   "remove the others from explain_func_kwargs")
    channel_first = kwargs.pop("channel_first", True)
    keepdims = kwargs.pop("keepdims", True)
    device = kwargs.pop("device", None)
    param = _first_parameter(model)
    device = _as_device(device) if device is not None else (param.device if param is not None else torch.device("cpu"))
    dtype = param.dtype if param is not None and param.is_floating_point() else torch.float32
    x = _as_tensor(inputs, device, dtype)
    if not channel_first:
        if x.ndim < 4:
            raise fail("inputs", f"shape {tuple(x.shape)}", "(N, H, W, C) with channel_first=False",
                       "add the channel axis")
        x = x.movedim(-1, 1)
    target = _as_targets(targets, int(x.shape[0]))
    maps = GLASAttribution(model).attribute(x, target=target, **kwargs)
    out = maps[:, :1].detach().float().cpu().numpy()
    return out if keepdims else out[:, 0]


def _first_parameter(model: Any) -> torch.Tensor | None:
    if isinstance(model, torch.nn.Module):
        for p in model.parameters():
            return p
    return None


def _as_tensor(inputs: Any, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    if isinstance(inputs, torch.Tensor):
        return inputs.to(device=device, dtype=dtype)
    try:
        arr = np.asarray(inputs)
    except (TypeError, ValueError):
        arr = None
    if arr is None or not np.issubdtype(arr.dtype, np.number):
        raise fail("inputs", type(inputs).__name__, "a numeric numpy array (N, C, H, W)", "pass Quantus' x_batch")
    return torch.as_tensor(arr, device=device).to(dtype)


def _as_device(device: Any) -> torch.device:
    try:
        return torch.device(device)
    except (RuntimeError, TypeError):
        raise fail("device", quoted(device), "a torch device such as 'cpu' or 'cuda:0'",
                   "pass device='cpu', or leave it out to use the model's device") from None


def _as_targets(targets: Any, n: int) -> Any:
    # tensors follow the same rule as arrays: a float label is accepted only when it is a whole number
    arr = targets.detach().cpu().numpy() if isinstance(targets, torch.Tensor) else np.asarray(targets)
    if arr.ndim == 0:
        return int(arr)
    if not np.issubdtype(arr.dtype, np.integer):
        if np.issubdtype(arr.dtype, np.floating) and np.all(arr == np.round(arr)):
            arr = arr.astype(np.int64)  # Quantus sometimes carries labels as floats
        else:
            raise fail("targets", f"dtype {arr.dtype}", "integer class indices", "pass y_batch as ints")
    flat = arr.reshape(-1)
    return [int(t) for t in flat] if flat.size > 1 or n == 1 else int(flat[0])
