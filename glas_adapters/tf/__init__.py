"""GLAS for Keras 3 and TensorFlow: ``explain`` on channels-last images, plus Keras-native tools.

>>> from glas_adapters import tf as glas_tf
>>> heat = glas_tf.explain(keras_model, images, targets=281)      # (N, H, W) numpy  # doctest: +SKIP

* :func:`explain`, :func:`explain_recursive` (the paper's Algorithm 1) and
  :func:`explain_multiscale` (the coarse-to-fine maps of the paper's Figure 1);
* :class:`GLASExplainer` (tf-explain's interface), :class:`GLAS` (Xplique's interface) and
  :class:`GLASCallback` (overlays written to TensorBoard during ``fit``).

Importing this package imports TensorFlow with its start-up notices kept off the terminal
(:mod:`glas_adapters.tf.runtime`); Keras 3 on the JAX or torch backend works without TensorFlow.
"""

from glas_adapters.tf.functional import explain, explain_multiscale, explain_recursive
from glas_adapters.tf.explainers import GLAS, GLASExplainer
from glas_adapters.tf.callback import GLASCallback

__all__ = ["GLAS", "GLASCallback", "GLASExplainer", "explain", "explain_multiscale", "explain_recursive"]
