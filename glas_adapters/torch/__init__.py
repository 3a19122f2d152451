"""GLAS for PyTorch: a Captum attribution and a functional API.

>>> from glas_adapters.torch import GLASAttribution
>>> maps = GLASAttribution(model).attribute(x, target=y)          # x (N, C, H, W) -> maps (N, C, H, W)

>>> from glas_adapters import torch as glas_torch
>>> maps = glas_torch.explain(model, image, targets=[281, 282])    # image (C, H, W): both maps in one sweep
>>> maps.shape                                                     # (2, H, W), on the image's device

The adapter is a backend of the one orchestrator (:mod:`glas_adapters._engine`): it cuts the
inputs into examples and runs the model on perturbed rows; the orchestrator reads the targets,
scores the outputs and calls :func:`glas_core.explain_batch` (Eq. 1-3 of the paper; all
examples of a batch in one packed stream of full forward batches),
:func:`glas_core.explain_recursive` (Algorithm 1) or :func:`glas_core.explain_multiscale`, as
it does for Keras and ONNX Runtime. Masks are built by the core on the input's device and in its dtype; every
forward pass runs under ``torch.no_grad()``; the model is never moved, converted or put in
another mode, and its buffers are restored after the call (a model left in train mode gets a
warning naming ``model.eval()``, see :mod:`~glas_adapters.torch.model_state`).

Scores: with ``probabilities="softmax"`` (the default) or ``"sigmoid"`` the scores are
log-probabilities computed in float32 (float64 for float64 outputs, never in half precision)
and Eq. 1-3 are evaluated in the log domain: each map is the paper's Eq. 3 divided by one
positive factor (``GLASResult.log_scale`` is its log), and over-confident models whose
probabilities underflow or round to 1 still get the right map. ``probabilities=None`` or a
callable: the scores are probabilities and the map is Eq. 3 itself.

Inputs are not cast: an input whose dtype or channel count the model does not take is refused
with the fix (:mod:`~glas_adapters.torch.diagnose`).

Tuple inputs: the first tensor defines the spatial layout; every floating entry with the
same spatial size is perturbed with the same mask (one map for all of them), other entries
are passed to the model unchanged and get zero attribution (see :mod:`~glas_adapters.torch.inputs`).

Modules: ``attribution`` (the Captum class), ``functional`` (``explain*``,
``to_visualization``), ``inputs`` (Captum-style inputs cut into examples), ``backend`` (the
model on perturbed rows), ``scores`` (``log_softmax``), ``model_state`` (train mode),
``diagnose`` (a model's failure on the input explained), ``objects`` (``explain_detections``,
``explain_segments``: one map per detection or segmentation region).
"""

from __future__ import annotations

from .attribution import GLASAttribution
from .functional import explain, explain_multiscale, explain_recursive, to_visualization
from .objects import explain_detections, explain_segments

__all__ = ["GLASAttribution", "explain", "explain_detections", "explain_multiscale", "explain_recursive",
           "explain_segments", "to_visualization"]
