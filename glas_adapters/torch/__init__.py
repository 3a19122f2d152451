"""GLAS for PyTorch: a Captum attribution and a functional API.

>>> from glas_adapters.torch import GLASAttribution
>>> maps = GLASAttribution(model).attribute(x, target=y)          # x (N, C, H, W) -> maps (N, C, H, W)

>>> from glas_adapters import torch as glas_torch
>>> result = glas_torch.explain(model, image, targets=[281, 282])  # image (C, H, W): both maps in one sweep
>>> result.saliency.shape                                          # (2, H, W)

The adapter only builds ``score_fn(batch) -> (B, T)`` probabilities from the model
(:mod:`~glas_adapters.torch.scores`) and calls :func:`glas_core.explain` (Eq. 1-3 of the
paper), :func:`glas_core.explain_recursive` (Algorithm 1) or :func:`glas_core.explain_multiscale`
once per example. Masks are built by the core on the input's device and in its dtype; the
model is never moved, converted or put in another mode, and every forward pass runs under
``torch.no_grad()``.

Tuple inputs: the first tensor defines the spatial layout; every floating entry with the
same spatial size is perturbed with the same mask (one map for all of them), other entries
are passed to the model unchanged and get zero attribution (see :mod:`~glas_adapters.torch.inputs`).

Modules: ``attribution`` (the Captum class), ``functional`` (``explain*``,
``to_visualization``), ``inputs`` (Captum-style inputs cut into examples), ``scores``
(outputs -> probabilities), ``run`` (one core call per example).
"""

from __future__ import annotations

from .attribution import GLASAttribution
from .functional import explain, explain_multiscale, explain_recursive, to_visualization

__all__ = ["GLASAttribution", "explain", "explain_recursive", "explain_multiscale", "to_visualization"]
