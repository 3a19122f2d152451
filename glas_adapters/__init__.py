"""Thin bindings of :mod:`glas_core` to PyTorch/Captum, Keras/TensorFlow and HuggingFace.

Each submodule imports its framework; this package itself imports none.
"""
