"""ONNX models for the command: ``.onnx`` files run by ONNX Runtime, explained with :mod:`glas_adapters.onnx`.

(The built-in EfficientNet-Lite0 on ONNX Runtime: :mod:`~glas_adapters.jobs.models.efficientnet_onnx`.)

Loading is safe and offline: ONNX Runtime parses the file in C++ and runs no Python code from
it.  ``--normalize`` is applied to the pixels before the model, and the masks fade to the
normalised value of black, so a shadow is darkness whatever the normalisation: GLAS's
``b + (z - b) * G`` with ``z = (x - mean) / std`` and ``b = -mean / std`` is exactly
``(x * G - mean) / std``, the normalisation of the masked [0, 1] pixels.
"""

from __future__ import annotations

import importlib.util
import os
from typing import Any

import numpy as np

from glas_adapters.jobs.models.classifier import NORMALIZATIONS, Classifier, resize_image
from glas_adapters.jobs.models.runtimes import cpu_threads
from glas_core.errors import fail

#: input side used when the model's height and width are dynamic and --input-size is not given
DEFAULT_SIZE = (224, 224)


class OnnxClassifier(Classifier):
    """An ONNX classifier fed [0, 1] RGB pixels, normalised and laid out as the model takes them.

    Parameters
    ----------
    session : onnxruntime.InferenceSession
        The open model.
    layout : str
        "NCHW" or "NHWC", the model's input layout.
    input_size : (int, int)
        Height and width the image is resized to.
    normalize : str
        A key of :data:`~glas_adapters.jobs.models.classifier.NORMALIZATIONS`.
    probabilities : "softmax" | "sigmoid" | None
        How outputs become ``P(y|I)``.
    description : str
        Shown in messages and figure titles.
    threads : int, optional
        The session's intra-op threads, as the summary line reports them (None: unknown).
    class_names : list of str, optional
        Names of the output columns.
    """

    runtime = "onnx"

    def __init__(self, session: Any, layout: str, input_size: tuple[int, int], normalize: str,
                 probabilities: str | None, description: str, threads: int | None = None,
                 class_names: list[str] | None = None) -> None:
        from glas_adapters.onnx.scoring import SessionRunner
        from glas_adapters.onnx.session import signature_of

        mean, std = NORMALIZATIONS[normalize]
        self.mean = np.asarray(mean, dtype=np.float32)
        self.std = np.asarray(std, dtype=np.float32)
        self.session = session
        self.runner = SessionRunner(session, signature_of(session))
        self.layout = layout
        self.input_size = input_size
        self.class_names = class_names
        self.probabilities_kind = probabilities
        self.description = description
        self.n_threads = threads

    def threads(self) -> int | None:
        return self.n_threads

    def prepare(self, image: np.ndarray) -> np.ndarray:
        return resize_image(image, self.input_size)

    def model_input(self, x: np.ndarray) -> np.ndarray:
        """``(H, W, 3)`` [0, 1] pixels -> one normalised image in the model's layout."""
        z = (x - self.mean) / self.std
        return np.ascontiguousarray(z.transpose(2, 0, 1) if self.layout == "NCHW" else z, dtype=np.float32)

    def baseline(self) -> np.ndarray:
        """Black, normalised: ``-mean / std`` per channel, broadcastable to one image."""
        black = -self.mean / self.std
        return black[:, None, None] if self.layout == "NCHW" else black

    def outputs(self, x: np.ndarray) -> np.ndarray:
        return self.runner.outputs(self.model_input(x)[None])

    def adapter_call(self, x: np.ndarray) -> tuple[Any, Any, Any, dict[str, Any]]:
        from glas_adapters import onnx as glas_onnx

        return glas_onnx, self.session, self.model_input(x), dict(baseline=self.baseline(), layout=self.layout)

    def display(self, x: np.ndarray) -> np.ndarray:
        return x


def onnx_providers(device: str | None) -> list[Any] | None:
    """``--device`` as ONNX Runtime execution providers (None: the adapter's default, CUDA if offered)."""
    if device is None:
        return None
    name = device.lower()
    if name == "cpu":
        return ["CPUExecutionProvider"]
    if name == "cuda" or (name.startswith("cuda:") and name[5:].isdigit()):
        index = int(name[5:]) if ":" in name else 0
        return [("CUDAExecutionProvider", {"device_id": index}), "CPUExecutionProvider"]
    raise fail("--device", repr(device), "cpu, cuda or cuda:N for ONNX models", "use --device cpu")


def load_onnx(path: str, device: str | None, input_size: tuple[int, int] | None, normalize: str,
              probabilities: str | None) -> OnnxClassifier:
    """A ``.onnx`` file, opened with ONNX Runtime, with ``--normalize`` applied before the model."""
    if importlib.util.find_spec("onnxruntime") is None:
        raise fail("--model", f"the ONNX file {path!r}", "used with onnxruntime installed",
                   "pip install 'glas-xai[onnx]'")
    from glas_adapters.onnx.session import open_session, signature_of

    threads = cpu_threads()
    session = open_session(path, session_options(threads), providers=onnx_providers(device))
    signature = signature_of(session)
    if signature.layout is None:
        raise fail("--model", f"the ONNX model {path!r}, whose input axes {signature.dims} are all dynamic",
                   "a model with a fixed channel axis (3, first or last)",
                   "re-export it with a fixed channel count, e.g. a (batch, 3, H, W) input")
    fixed = signature.fixed(signature.layout)
    if fixed.get("C", 3) != 3:
        raise fail("--model", f"the ONNX model {path!r} with {fixed['C']} input channels",
                   "a model with RGB input (3 channels)", "explain a model with RGB input")
    model_size = (fixed["H"], fixed["W"]) if "H" in fixed and "W" in fixed else None
    if input_size is not None and model_size is not None and tuple(input_size) != model_size:
        raise fail("--input-size", f"{input_size[0]},{input_size[1]}",
                   f"the model's own input size {model_size[0]},{model_size[1]} (or left out)", "drop --input-size")
    size = model_size or input_size or DEFAULT_SIZE
    return OnnxClassifier(session, signature.layout, size, normalize, probabilities, f"ONNX model {path!r}", threads)


def session_options(threads: int) -> Any:
    """ONNX Runtime options of the command's sessions: ``threads`` intra-op threads, one inter-op thread.

    Where ``OMP_WAIT_POLICY`` is ``PASSIVE`` (the ``glas`` command sets it unless you did), idle
    threads sleep instead of spinning between runs, as torch's OpenMP threads then do.
    """
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = int(threads)
    options.inter_op_num_threads = 1
    if os.environ.get("OMP_WAIT_POLICY", "").strip().upper() == "PASSIVE":
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return options

