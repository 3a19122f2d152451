"""PyTorch models exported to ONNX for ONNX Runtime: written atomically, checked, cached.

On a CPU, ONNX Runtime runs the depthwise-convolution and transformer networks most users
explain several times faster than PyTorch's eager kernels (EfficientNet-Lite0 at 224 px on 2
cores: 187 against 29 images/s), and a GLAS sweep is nothing but forward passes. A model is
exported once (``torch.onnx.export``, the TorchScript-based exporter: the newer one needs
onnxscript, which glas does not install), with a dynamic batch axis and the input's other axes
fixed, and used only after its outputs agree with the model's own on a check input. Files,
checksums and the cache folder: :mod:`glas_adapters.onnx.exported`.
"""

from __future__ import annotations

import os
import warnings
from typing import Any

import torch

from glas_core.errors import fail

from .._common import user_stacklevel
from ..onnx.exported import (
    TOLERANCE,
    cache_dir,
    checked_session,
    checksum_ok,
    export_or_refuse,
    process_folder,
    sha256_of,
)

__all__ = ["INPUT_NAME", "OUTPUT_NAME", "TOLERANCE", "cache_dir", "cached_export", "checksum_ok", "export_model",
           "open_checked_session", "sha256_of"]

INPUT_NAME, OUTPUT_NAME = "pixels", "logits"


def export_model(module: torch.nn.Module, example: torch.Tensor, path: str) -> str:
    """Export ``module`` (eval mode, on the CPU) for inputs shaped like ``example`` to ``path``, atomically.

    The batch axis is dynamic; the others are fixed to ``example``'s.

    Raises
    ------
    GLASError
        The model does not export (an operator ONNX lacks, inputs it cannot trace).
    """
    def export(tmp: str) -> None:
        with warnings.catch_warnings():  # the exporter's notes about itself and about tracing
            warnings.simplefilter("ignore")
            torch.onnx.export(module, (example,), tmp, dynamo=False, input_names=[INPUT_NAME],
                              output_names=[OUTPUT_NAME],
                              dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}})

    return export_or_refuse(path, export, "torch.onnx.export", "torch")


def cached_export(module: torch.nn.Module, example: torch.Tensor, name: str) -> tuple[str, bool]:
    """The cached export ``<cache_dir>/<name>.onnx``, exported now when missing or corrupt.

    Returns the path and whether it was exported by this call. A cache folder that cannot be
    written (read-only, full) gives an export in a temporary folder instead, with one warning.
    """
    path = os.path.join(cache_dir(), f"{name}.onnx")
    if checksum_ok(path):
        return path, False
    try:
        return export_model(module, example, path), True
    except OSError as exc:
        warnings.warn(f"glas could not write the ONNX export to {cache_dir()!r} ({exc.strerror or exc}); it is "
                      "exported to a temporary folder for this run (set GLAS_CACHE to a writable folder to keep it)",
                      RuntimeWarning, stacklevel=user_stacklevel())
        return export_model(module, example, os.path.join(process_folder(), f"{name}.onnx")), True


def open_checked_session(path: str, module: torch.nn.Module, example: torch.Tensor, providers: Any = None,
                         session_options: Any = None) -> Any:
    """An ONNX Runtime session of ``path`` whose outputs on ``example`` agree with ``module``'s.

    Raises
    ------
    GLASError
        ONNX Runtime cannot open the file, or the two disagree by more than :data:`TOLERANCE`
        (relative to the outputs' largest magnitude).
    """
    with torch.no_grad():
        want = module(example)
    if not isinstance(want, torch.Tensor):
        raise fail("model", f"a model returning a {type(want).__name__}", "a model returning one tensor",
                   "explain it with runtime='torch'")
    return checked_session(path, example.detach().cpu().numpy(), want.detach().cpu().double().numpy(),
                           providers, session_options)
