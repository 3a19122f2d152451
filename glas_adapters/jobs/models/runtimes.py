"""Which runtime runs a model's forward passes, and with how many CPU threads.

The built-in EfficientNet-Lite0 runs on PyTorch or on ONNX Runtime (``--runtime torch|onnx``);
by default on ONNX Runtime when ``import onnxruntime`` works, the ``onnx`` package (the
exporter's) is installed and the model runs on the CPU, else on PyTorch. Other models
run on their own framework. Both runtimes use the same number of intra-op threads:
``torch.get_num_threads()`` where torch is imported (``$OMP_NUM_THREADS``, else the machine's
cores), else ``$OMP_NUM_THREADS``, else the CPUs this process may run on.
"""

from __future__ import annotations

import os
import sys

from glas_core.errors import fail, quoted

RUNTIMES = ("torch", "onnx")
_LABELS = {"torch": "PyTorch", "onnx": "ONNX Runtime"}


def check_runtime(runtime: str | None) -> str | None:
    """Refuse a runtime other than None (the default), "torch" or "onnx"."""
    if runtime is not None and runtime not in RUNTIMES:
        raise fail("--runtime", quoted(runtime), "torch or onnx", "use --runtime onnx or --runtime torch")
    return runtime


def onnxruntime_missing() -> str | None:
    """Why ``import onnxruntime`` fails (one line), or None when it works."""
    try:
        import onnxruntime  # noqa: F401  (only whether it imports)
    except Exception as exc:  # ImportError, or a broken build's own error
        return " ".join(f"{type(exc).__name__}: {exc}".split())[:160]
    return None


def exporter_missing() -> bool:
    """Whether the ``onnx`` package, which ``torch.onnx.export`` needs to write a file, is not installed
    (looked up, not imported: importing it takes a second)."""
    import importlib.util

    return importlib.util.find_spec("onnx") is None


def cpu_threads() -> int:
    """Intra-op threads of a model's runtime: torch's count where torch is imported, else
    ``$OMP_NUM_THREADS``, else the CPUs this process may run on."""
    torch = sys.modules.get("torch")
    if torch is not None and hasattr(torch, "get_num_threads"):
        return max(1, int(torch.get_num_threads()))
    text = os.environ.get("OMP_NUM_THREADS", "")
    if text.strip().isdigit() and int(text) > 0:
        return int(text)
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def runtime_text(runtime: str | None, threads: int | None) -> str:
    """``"ONNX Runtime with 2 threads"``: a runtime and its thread count as the summary lines say them."""
    name = _LABELS.get(runtime or "", runtime or "an unknown runtime")
    if threads is None:
        return name
    return f"{name} with {threads} thread{'s' if threads != 1 else ''}"
