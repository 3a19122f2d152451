"""GLAS for Keras 3 on every backend (TensorFlow, JAX, PyTorch): ``explain`` on channels-last images.

>>> from glas_adapters import tf as glas_tf
>>> heat = glas_tf.explain(keras_model, images, targets=281)      # (N, H, W), like images  # doctest: +SKIP

* :func:`explain`, :func:`explain_recursive` (the paper's Algorithm 1) and
  :func:`explain_multiscale` (the coarse-to-fine maps of the paper's Figure 1);
* :func:`explain_detections` and :func:`explain_segments`: one map per box or region;
* :class:`GLASExplainer` (tf-explain's interface), :class:`GLAS` (Xplique's interface) and
  :class:`GLASCallback` (overlays written to TensorBoard during ``fit``).

The model runs on its own Keras backend; images may be NumPy or that framework's tensors, and
maps come back in the framework the images came in. Importing this package imports no
framework, except TensorFlow when Keras will run on it and is not imported yet: TensorFlow is
then imported here with its start-up notices kept off the terminal
(:mod:`glas_adapters.tf.runtime`), before Keras would import it noisily.
"""

from __future__ import annotations

import sys
from typing import Any

from glas_adapters.tf.explainers import GLAS, GLASExplainer
from glas_adapters.tf.frameworks import upcoming_keras_backend
from glas_adapters.tf.functional import explain, explain_multiscale, explain_recursive
from glas_adapters.tf.objects import explain_detections, explain_segments

if "keras" not in sys.modules and upcoming_keras_backend() == "tensorflow":
    from glas_adapters.tf.runtime import load_tensorflow

    load_tensorflow()

__all__ = ["GLAS", "GLASCallback", "GLASExplainer", "explain", "explain_detections", "explain_multiscale",
           "explain_recursive", "explain_segments"]


def __getattr__(name: str) -> Any:
    """:class:`GLASCallback` subclasses a Keras class: Keras is imported when it is first asked for."""
    if name == "GLASCallback":
        from glas_adapters.tf.callback import GLASCallback

        return GLASCallback
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
