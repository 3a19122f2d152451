"""GLAS for ONNX models run by ONNX Runtime: any exported model, no training framework.

>>> from glas_adapters import onnx as glas_onnx
>>> maps = glas_onnx.explain("model.onnx", images, targets=281)   # images in the model's layout  # doctest: +SKIP
>>> maps.shape                                                      # (N, H, W) numpy  # doctest: +SKIP

Needs only ``onnxruntime`` (the ``onnx`` extra).  The input name, layout (NCHW or NHWC),
dtype and batch axis come from the model's own metadata; loading a file runs no Python code.

Modules: ``functional`` (:func:`explain`, :func:`explain_multiscale`, :func:`explain_recursive`), ``session`` (opening
the model, reading its input and output), ``inputs`` (images and targets), ``scoring``
(session runs -> checked outputs), ``backend`` (the orchestrator's ONNX Runtime backend), ``objects``
(:func:`explain_detections`, :func:`explain_segments`: a detector's or segmenter's named outputs).
"""

from glas_adapters.onnx.functional import explain, explain_multiscale, explain_recursive
from glas_adapters.onnx.objects import explain_detections, explain_segments

__all__ = ["explain", "explain_detections", "explain_multiscale", "explain_recursive", "explain_segments"]
