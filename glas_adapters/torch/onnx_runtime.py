"""``runtime="onnx"``: a PyTorch model's sweep run by ONNX Runtime, one more backend of the orchestrator.

The model is exported once per input shape (:mod:`~glas_adapters.torch.onnx_export`) into a
temporary folder kept for the process, its outputs on the call's clean examples are checked
against PyTorch's (every call: a model whose weights changed since the export is re-exported),
and the perturbed rows go through ONNX Runtime; the core still perturbs the caller's tensors and
the maps come back as torch tensors. What cannot run there falls back to PyTorch with one
warning saying why: tuple inputs or extra model arguments, a model in train mode (an export is
always in eval mode), tensors on an accelerator (GPU users keep PyTorch), inputs that are not
float32, a model that does not export, ONNX Runtime missing.
"""

from __future__ import annotations

import os
import warnings
import weakref
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import Tensor

from glas_core.errors import GLASError

from .._common import user_stacklevel
from ..onnx import exported
from ..onnx.exported import process_folder, session_outputs
from .backend import TorchBackend
from .inputs import ExampleLayout
from .onnx_export import export_model, open_checked_session

# one export per (model, example shape) for the life of the process; dropped with the model
_EXPORTS: weakref.WeakKeyDictionary[torch.nn.Module, dict[tuple[int, ...], str]] = weakref.WeakKeyDictionary()


def check_runtime(runtime: Any) -> str:
    """Refuse a ``runtime`` other than "torch" or "onnx"."""
    return exported.check_runtime(runtime, "torch", "PyTorch")


class OnnxRuntimeBackend(TorchBackend):
    """:class:`TorchBackend` whose perturbed rows are run by an ONNX Runtime session of the exported model."""

    host_scores = True

    def __init__(self, forward_func: Callable[..., Any], layout: ExampleLayout, single: bool, session: Any,
                 **names: str) -> None:
        super().__init__(forward_func, layout, single, None, **names)
        self.ort_session = session

    def outputs(self, batch: Tensor, owners: np.ndarray) -> Any:
        return session_outputs(self.ort_session, np.ascontiguousarray(batch.detach().cpu().numpy(), dtype=np.float32))


def torch_backend(forward_func: Callable[..., Any], layout: ExampleLayout, single: bool,
                  additional_forward_args: Any, runtime: str, **names: str) -> TorchBackend:
    """The backend of one call: PyTorch, or ONNX Runtime for ``runtime="onnx"`` where it can run the model."""
    if check_runtime(runtime) == "torch":
        return TorchBackend(forward_func, layout, single, additional_forward_args, **names)
    why = _why_not_onnx(forward_func, layout, additional_forward_args)
    if why is None:
        try:
            session = _checked_session(forward_func, layout)
        except GLASError as err:
            why = str(err).split("; ")[0]
    if why is not None:
        warnings.warn(f"runtime='onnx' runs this call in PyTorch instead: {why}", RuntimeWarning,
                      stacklevel=user_stacklevel())
        return TorchBackend(forward_func, layout, single, additional_forward_args, **names)
    return OnnxRuntimeBackend(forward_func, layout, single, session, **names)


def _why_not_onnx(forward_func: Any, layout: ExampleLayout, additional_forward_args: Any) -> str | None:
    """Why ONNX Runtime cannot run this call as PyTorch would, or None."""
    try:
        import onnxruntime  # noqa: F401  (only whether it imports)
    except ImportError:
        return "onnxruntime is not installed (pip install onnxruntime)"
    if not isinstance(forward_func, torch.nn.Module):
        return f"the model is a {type(forward_func).__name__}, not a torch.nn.Module that torch.onnx.export can export"
    if layout.is_tuple or additional_forward_args is not None:
        return "the model takes a tuple of inputs or extra arguments (the export takes one tensor)"
    first = layout.inputs[0]
    if first.device.type != "cpu":
        return f"the input is on {first.device} (ONNX Runtime runs here on the CPU; PyTorch keeps the GPU)"
    if first.dtype != torch.float32:
        return f"the input is {first.dtype}, not torch.float32"
    if any(m.training for m in forward_func.modules()):
        return "the model is in train mode (an export is always in eval mode; call model.eval())"
    return None


def _checked_session(module: torch.nn.Module, layout: ExampleLayout) -> Any:
    """A session of ``module``'s export for this input shape, checked on the call's clean examples.

    The check is rerun every call; a model whose outputs no longer match its export (its
    weights changed) is exported again, once.
    """
    example = layout.inputs[0][:1]
    clean = layout.inputs[0]
    shape = tuple(int(s) for s in example.shape[1:])
    known = _EXPORTS.setdefault(module, {})
    if shape in known:
        try:
            return open_checked_session(known[shape], module, clean)
        except GLASError:
            pass  # exported before the weights changed: export again
    path = os.path.join(process_folder(), f"model-{id(module):x}-{'x'.join(map(str, shape))}.onnx")
    known[shape] = export_model(module, example, path)
    return open_checked_session(path, module, clean)
