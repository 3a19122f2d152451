"""Open an ONNX model with ONNX Runtime and read what GLAS needs from its own metadata.

Loading parses the ONNX protobuf in ONNX Runtime's C++ code: no Python code from the file is
ever run (ONNX has no pickles).  The model's single input and single output are read from
the session: input name, element type, layout (NCHW or NHWC) and whether its batch axis is
fixed (e.g. an export with batch size 1) or dynamic.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from glas_core.errors import fail, quoted

#: ONNX element types an image input may have, as NumPy dtypes
INPUT_DTYPES = {"tensor(float)": np.float32, "tensor(double)": np.float64, "tensor(float16)": np.float16}
#: layouts of a 4-D image input
LAYOUTS = ("NCHW", "NHWC")
#: the largest channel count read as "channels" when telling NCHW from NHWC by size alone
MAX_CHANNELS_GUESS = 4

_EXPORT_FIX = ("re-export it with one image input and one (N, num_classes) output, e.g. torch.onnx.export(model, "
               "(x,), path, input_names=['pixels'], output_names=['logits'], dynamic_axes={'pixels': {0: 'batch'}, "
               "'logits': {0: 'batch'}})")


def _ort() -> Any:
    try:
        import onnxruntime
    except ImportError:
        raise fail("model", "an ONNX model without onnxruntime installed", "run with onnxruntime installed",
                   "pip install 'glas-xai[onnx]'") from None
    return onnxruntime


def _one_line(exc: BaseException, limit: int = 200) -> str:
    return " ".join(str(exc).split())[:limit]


def open_session(model: Any, session_options: Any = None, providers: Sequence[Any] | None = None) -> Any:
    """An ``onnxruntime.InferenceSession`` for ``model``: a path to a ``.onnx`` file, or a session.

    Parameters
    ----------
    model
        A path (str or ``os.PathLike``) or an ``onnxruntime.InferenceSession`` (used as it is).
    session_options
        ``onnxruntime.SessionOptions`` for a path (thread counts, graph optimisation level).
    providers
        Execution providers for a path, names or ``(name, options)`` pairs, e.g.
        ``["CUDAExecutionProvider", "CPUExecutionProvider"]``.  None: CUDA when this
        onnxruntime offers it, then CPU.

    Raises
    ------
    GLASError
        A missing or malformed file, providers this onnxruntime lacks, or options given with
        a session that is already open.
    """
    ort = _ort()
    if isinstance(model, ort.InferenceSession):
        if session_options is not None or providers is not None:
            raise fail("session_options/providers", "given with an open InferenceSession",
                       "given only with a path (an open session keeps its own)",
                       "pass the path of the .onnx file, or open the session with them yourself")
        return model
    if not isinstance(model, (str, os.PathLike)):
        raise fail("model", f"a {type(model).__name__}", "a path to a .onnx file or an onnxruntime.InferenceSession",
                   "pass e.g. 'model.onnx'")
    path = os.fspath(model)
    if not os.path.isfile(path):
        raise fail("model", f"{path!r}, which is not a file", "a path to a .onnx file", "check the path")
    if session_options is not None and not isinstance(session_options, ort.SessionOptions):
        raise fail("session_options", f"a {type(session_options).__name__}", "an onnxruntime.SessionOptions or None",
                   "build one with onnxruntime.SessionOptions() and set e.g. intra_op_num_threads")
    chosen = default_providers(ort) if providers is None else check_providers(ort, providers)
    try:
        return ort.InferenceSession(path, sess_options=session_options, providers=chosen)
    except Exception as exc:  # ONNX Runtime's own exception types: one line, ours
        raise fail("model", f"{path!r}, which ONNX Runtime cannot load ({_one_line(exc)})", "a valid ONNX model file",
                   "check that the file is a complete .onnx export (torch.onnx.export, tf2onnx, skl2onnx)") from None


def default_providers(ort: Any) -> list[str]:
    """CUDA when this onnxruntime build offers it, then CPU (TensorRT only when asked for)."""
    available = ort.get_available_providers()
    return [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in available]


def check_providers(ort: Any, providers: Sequence[Any]) -> list[Any]:
    """Refuse providers this onnxruntime lacks (ONNX Runtime would silently fall back to CPU)."""
    if isinstance(providers, (str, bytes)) or not isinstance(providers, Sequence) or len(providers) == 0:
        raise fail("providers", quoted(providers), "a non-empty list of execution provider names",
                   "pass e.g. providers=['CPUExecutionProvider']")
    available = ort.get_available_providers()
    for entry in providers:
        name = entry[0] if isinstance(entry, (tuple, list)) and entry else entry
        if name not in available:
            raise fail("providers", f"{quoted(name)}, which this onnxruntime does not offer",
                       f"one of {', '.join(available)}",
                       "install the onnxruntime build that has it (onnxruntime-gpu for CUDA and TensorRT)")
    return list(providers)


@dataclass(frozen=True)
class Signature:
    """What the model's metadata says about its image input and its output.

    Attributes
    ----------
    input_name, output_name : str
        Names to feed and fetch.
    dtype : numpy.dtype
        Element type of the input (float32, float64 or float16).
    dims : tuple
        The input's four dimensions: an int where fixed, None where dynamic (symbolic).
    layout : str or None
        "NCHW" or "NHWC" when the metadata tells, None when it does not (every axis dynamic).
    output_names : tuple of str
        The outputs a detector or segmenter is read from (empty for a classifier's one output).
    """

    input_name: str
    output_name: str
    dtype: np.dtype
    dims: tuple[int | None, ...]
    layout: str | None
    output_names: tuple[str, ...] = ()

    @property
    def batch(self) -> int | None:
        """The fixed batch size of the input, or None for a dynamic batch axis."""
        return self.dims[0]

    def fixed(self, layout: str) -> dict[str, int]:
        """Fixed sizes of the input under ``layout``: keys among ``C``, ``H``, ``W``."""
        return {axis: d for axis, d in zip(layout[1:], self.dims[1:]) if d is not None}


def signature_of(session: Any, output_names: Sequence[str] | None = None) -> Signature:
    """Read and check the input and output of ``session``.

    Parameters
    ----------
    session : onnxruntime.InferenceSession
    output_names : sequence of str, optional
        The outputs to fetch, for a detector or segmenter (any number, any rank); None for a
        classifier's single ``(N, num_classes)`` output.

    Raises
    ------
    GLASError
        Several inputs or outputs, an input that is not a 4-D float tensor, an output whose
        known rank is not 1 or 2; an output name the model does not have.
    """
    inputs, outputs = session.get_inputs(), session.get_outputs()
    if len(inputs) != 1:
        names = ", ".join(repr(i.name) for i in inputs)
        raise fail("model", f"a model with {len(inputs)} inputs ({names})", "a model with one image input",
                   _EXPORT_FIX)
    if output_names is not None:
        have = [o.name for o in outputs]
        missing = [n for n in output_names if n not in have]
        if missing:
            raise fail("output_names", f"{missing[0]!r}", f"names of the model's outputs {have}",
                       "name the outputs as the exported model does (session.get_outputs())")
        outputs = [o for o in outputs if o.name == output_names[0]]
    elif len(outputs) != 1:
        names = ", ".join(repr(o.name) for o in outputs)
        raise fail("model", f"a model with {len(outputs)} outputs ({names})",
                   "a model with one (N, num_classes) output", _EXPORT_FIX)
    image, out = inputs[0], outputs[0]
    dims = tuple(d if isinstance(d, int) and d > 0 else None for d in (image.shape or []))
    if len(dims) != 4:
        raise fail("model", f"an input {image.name!r} of shape {image.shape}",
                   "a model whose input is a 4-D image batch (N, C, H, W) or (N, H, W, C)", _EXPORT_FIX)
    if image.type not in INPUT_DTYPES:
        raise fail("model", f"an input {image.name!r} of type {image.type}",
                   "a model with a float input (float32, float64 or float16)",
                   "re-export it with a float input and the cast to integers (if any) inside the graph")
    if output_names is None and out.shape is not None and len(out.shape) not in (1, 2):
        raise fail("model", f"an output {out.name!r} of shape {out.shape}", "a model with one (N, num_classes) output",
                   _EXPORT_FIX)
    return Signature(image.name, out.name, np.dtype(INPUT_DTYPES[image.type]), dims, layout_from_dims(dims),
                     tuple(output_names or ()))


def layout_from_dims(dims: Sequence[int | None]) -> str | None:
    """NCHW or NHWC from four dimensions (None where dynamic), or None when they do not tell.

    The channel axis is axis 1 or 3: the one holding at most 4 (1, 3 or 4 channels) while
    the other does not; when both are fixed and larger, the smaller one (a 12-band image of
    64 x 64 pixels); otherwise the layout is unknown.
    """
    second, last = dims[1], dims[3]

    def channel_like(d: int | None) -> bool:
        return d is not None and d <= MAX_CHANNELS_GUESS

    if channel_like(second) and not channel_like(last):
        return "NCHW"
    if channel_like(last) and not channel_like(second):
        return "NHWC"
    if second is not None and last is not None and second != last and not channel_like(second):
        return "NCHW" if second < last else "NHWC"
    return None
