"""PyTorch models exported to ONNX for ONNX Runtime: written atomically, checked, cached.

On a CPU, ONNX Runtime runs the depthwise-convolution and transformer networks most users
explain several times faster than PyTorch's eager kernels (EfficientNet-Lite0 at 224 px on 2
cores: 187 against 29 images/s), and a GLAS sweep is nothing but forward passes. This module
exports a model once (``torch.onnx.export``, the TorchScript-based exporter: the newer one needs
onnxscript, which glas does not install), with a dynamic batch axis and the input's other axes
fixed, and hands back an ONNX Runtime session whose outputs were checked against the model's own
on a fixed input (:data:`TOLERANCE`).

Files: an export is written to a temporary name and renamed into place (two processes exporting
at once never leave a torn file), with its SHA-256 beside it (``<file>.sha256``); a file whose
checksum does not match (a torn copy, a disk error, an edit) is rebuilt. The cache folder is
``$GLAS_CACHE``, else ``$XDG_CACHE_HOME/glas``, else ``~/.cache/glas``.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import uuid
import warnings
from typing import Any

import numpy as np
import torch

from glas_core.errors import fail

from .._common import user_stacklevel

#: largest |ONNX Runtime - PyTorch| allowed on the check input, relative to the outputs' largest magnitude (at least 1)
TOLERANCE = 1e-4
INPUT_NAME, OUTPUT_NAME = "pixels", "logits"
_CHECKSUM_SUFFIX = ".sha256"


def cache_dir() -> str:
    """Where exported models are kept: ``$GLAS_CACHE``, ``$XDG_CACHE_HOME/glas`` or ``~/.cache/glas``."""
    if os.environ.get("GLAS_CACHE"):
        return os.environ["GLAS_CACHE"]
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "glas")


def sha256_of(path: str) -> str:
    """The SHA-256 of a file's bytes, hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def checksum_ok(path: str) -> bool:
    """Whether ``path`` exists and matches the SHA-256 written beside it when it was exported."""
    try:
        with open(path + _CHECKSUM_SUFFIX, encoding="ascii") as fh:
            recorded = fh.read().strip()
        return recorded == sha256_of(path)
    except OSError:
        return False


def export_model(module: torch.nn.Module, example: torch.Tensor, path: str) -> str:
    """Export ``module`` (eval mode, on the CPU) for inputs shaped like ``example`` to ``path``, atomically.

    The batch axis is dynamic; the others are fixed to ``example``'s. The file and its checksum
    are written under temporary names and renamed into place, the checksum last, so a reader
    that sees a matching checksum sees a whole file.

    Raises
    ------
    GLASError
        The model does not export (dynamic control flow, custom ops, inputs it cannot trace).
    """
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    tmp = os.path.join(folder, f".{os.path.basename(path)}.{os.getpid()}.{uuid.uuid4().hex}.tmp")
    try:
        with warnings.catch_warnings():  # the exporter's notes about itself and about tracing
            warnings.simplefilter("ignore")
            torch.onnx.export(module, (example,), tmp, dynamo=False, input_names=[INPUT_NAME],
                              output_names=[OUTPUT_NAME],
                              dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}})
        checksum = sha256_of(tmp)
        os.replace(tmp, path)
        _write_text_atomically(path + _CHECKSUM_SUFFIX, checksum + "\n")
    except Exception as exc:
        _remove(tmp)
        if isinstance(exc, OSError):
            raise
        reason = " ".join(f"{type(exc).__name__}: {exc}".split())[:200]
        raise fail("model", f"a model torch.onnx.export cannot export ({reason})", "a model that exports to ONNX",
                   "explain it with runtime='torch'") from exc
    return path


def _write_text_atomically(path: str, text: str) -> None:
    tmp = f"{path}.{os.getpid()}.{uuid.uuid4().hex}.tmp"
    with open(tmp, "w", encoding="ascii") as fh:
        fh.write(text)
    os.replace(tmp, path)


def _remove(path: str) -> None:
    try:
        os.remove(path)
    except OSError:
        pass


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
        folder = tempfile.mkdtemp(prefix="glas-onnx-")
        return export_model(module, example, os.path.join(folder, f"{name}.onnx")), True


def open_checked_session(path: str, module: torch.nn.Module, example: torch.Tensor, providers: Any = None,
                         session_options: Any = None) -> Any:
    """An ONNX Runtime session of ``path`` whose outputs on ``example`` agree with ``module``'s.

    Raises
    ------
    GLASError
        ONNX Runtime cannot open the file, or the two disagree by more than :data:`TOLERANCE`
        (relative to the outputs' largest magnitude).
    """
    import onnxruntime

    try:
        session = onnxruntime.InferenceSession(path, session_options, providers=providers or ["CPUExecutionProvider"])
        got = session.run([OUTPUT_NAME], {INPUT_NAME: example.detach().cpu().numpy()})[0]
    except Exception as exc:  # ONNX Runtime's own exception types
        reason = " ".join(str(exc).split())[:200]
        raise fail("model", f"an ONNX export that ONNX Runtime cannot run ({reason})",
                   "an export ONNX Runtime runs", "explain it with runtime='torch'") from None
    with torch.no_grad():
        want = module(example)
    want_np = want.detach().cpu().double().numpy() if isinstance(want, torch.Tensor) else None
    if want_np is None or want_np.shape != got.shape:
        raise fail("model", f"an ONNX export whose outputs have shape {got.shape}",
                   f"the model's own output shape {None if want_np is None else want_np.shape}",
                   "explain it with runtime='torch'")
    scale = max(1.0, float(np.max(np.abs(want_np))))
    err = float(np.max(np.abs(got.astype(np.float64) - want_np)))
    if not err <= TOLERANCE * scale:
        raise fail("model", f"an ONNX export whose outputs differ from the model's by {err:.3g} on the check input",
                   f"at most {TOLERANCE:g} of their largest magnitude ({scale:.3g})",
                   "explain it with runtime='torch' (the export does not compute what the model does)")
    return session
