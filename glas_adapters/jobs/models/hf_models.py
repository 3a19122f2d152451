"""Local HuggingFace models for the command: image classifiers and captioners (every word explained);
audio and video classifiers are loaded by :mod:`~glas_adapters.jobs.models.hf_signals`, detectors
and semantic segmenters by :mod:`~glas_adapters.jobs.models.hf_objects`.

Loading is offline and runs no remote code (``local_files_only=True``, ``trust_remote_code=False``).
Both kinds are explained with :mod:`glas_adapters.hf`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from glas_adapters.jobs.models.classifier import ExplainSettings
from glas_adapters.jobs.models.hf_objects import HFObjectModel, load_object_model
from glas_adapters.jobs.models.hf_signals import SignalModel, load_signal_model
from glas_adapters.jobs.models.torch_models import TorchClassifier
from glas_core.errors import GLASError, fail


class HFClassifier(TorchClassifier):
    """An ``AutoModelForImageClassification`` through :class:`glas_adapters.hf.HFImageClassifier`."""

    def __init__(self, clf: Any, device: Any, class_names: list[str], description: str) -> None:
        super().__init__(clf, (0, 0), device, class_names, "softmax", description)
        self.plain_resize = False  # the processor may crop: draw on the model's own input

    def prepare(self, image: np.ndarray) -> Any:
        return self.forward.prepare(image)


class Captioner:
    """A local HuggingFace captioner; every word of its caption is explained."""

    kind = "captioner"
    runtime = "torch"
    runtime_note: str | None = None

    def __init__(self, explainer: Any, description: str) -> None:
        self.explainer = explainer
        self.description = description

    def threads(self) -> int | None:
        """torch's intra-op threads."""
        import torch

        return int(torch.get_num_threads())

    def explain(self, image: np.ndarray, settings: ExplainSettings) -> Any:
        """A :class:`glas_adapters.hf.CaptionExplanation` for the generated caption."""
        if len(settings.sigmas) != 1 or settings.recursive:
            raise fail("--sigma/--recursive", "several scales or --recursive with a captioner",
                       "one --sigma value and no --recursive for captioners",
                       "pass one --sigma value and no --recursive")
        # the caption length the model was saved with, else the adapter's default of 30 tokens
        generation = getattr(self.explainer.model, "generation_config", None)
        max_new_tokens = getattr(generation, "max_new_tokens", None) or 30
        return self.explainer.explain(image, grid=settings.grid, sigma=settings.sigmas[0], mode=settings.mode,
                                      batch_size=settings.batch_size, progress=settings.progress,
                                      max_new_tokens=max_new_tokens)


def load_huggingface(path: str, device: Any) -> HFClassifier | Captioner | SignalModel | HFObjectModel:
    """An image, audio or video classifier, a captioner, an object detector or a semantic segmenter saved with
    ``save_pretrained`` in the directory ``path``."""
    try:
        import transformers
        from transformers.models.auto import modeling_auto
    except ImportError:
        raise fail("--model", f"the HuggingFace directory {path!r}", "used with transformers installed",
                   "pip install 'glas-xai[hf]'") from None
    from glas_adapters import hf as glas_hf

    opts: dict[str, Any] = dict(local_files_only=True, trust_remote_code=False)
    try:
        config = transformers.AutoConfig.from_pretrained(path, **opts)
        model_type = getattr(config, "model_type", "")
        objects = load_object_model(path, config, device, opts)  # detectors and semantic segmenters
        if objects is not None:
            return objects
        if model_type in modeling_auto.MODEL_FOR_IMAGE_CLASSIFICATION_MAPPING_NAMES:
            model = transformers.AutoModelForImageClassification.from_pretrained(path, **opts).eval().to(device)
            processor = transformers.AutoImageProcessor.from_pretrained(path, **opts)
            clf = glas_hf.HFImageClassifier(model, processor)
            id2label = getattr(config, "id2label", None) or {}
            names = [str(id2label.get(i, f"class {i}")) for i in range(int(config.num_labels))]
            return HFClassifier(clf, device, names, f"HuggingFace classifier {path!r}")
        signal_model = load_signal_model(path, config, device)  # audio and video classifiers
        if signal_model is not None:
            return signal_model
        if model_type == "vision-encoder-decoder":
            model = transformers.VisionEncoderDecoderModel.from_pretrained(path, **opts)
        elif model_type in modeling_auto.MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES:
            model = transformers.AutoModelForImageTextToText.from_pretrained(path, **opts)
        else:
            raise fail("--model", f"a HuggingFace {model_type!r} model in {path!r}",
                       "an image, audio or video classifier, an image captioner (vision-encoder-decoder, BLIP, "
                       "GIT, LLaVA ...), an object detector or a semantic segmenter",
                       "use glas_adapters.hf from Python for other models")
        model = model.eval().to(device)
        processor, tokenizer = _processor(path, opts)
        explainer = glas_hf.CaptionExplainer(model, processor, tokenizer=tokenizer)
    except GLASError:
        raise
    except Exception as exc:
        reason = " ".join(str(exc).split())[:200]
        raise fail("--model", f"{path!r}, which could not be loaded offline ({reason})",
                   "a HuggingFace model directory with config.json, safetensors weights and the processor files",
                   "save it with model.save_pretrained(dir) and processor.save_pretrained(dir)") from None
    return Captioner(explainer, f"HuggingFace captioner {path!r}")


def _processor(path: str, opts: dict[str, Any]) -> tuple[Any, Any]:
    """AutoProcessor where one is saved, else an image processor and a tokenizer side by side."""
    import transformers

    try:
        processor = transformers.AutoProcessor.from_pretrained(path, **opts)
        if hasattr(processor, "tokenizer") and hasattr(processor, "image_processor"):
            return processor, None
    except Exception:  # no processor_config: fall back to the two parts
        pass
    image_processor = transformers.AutoImageProcessor.from_pretrained(path, **opts)
    tokenizer = transformers.AutoTokenizer.from_pretrained(path, **opts)
    return image_processor, tokenizer
