"""Local HuggingFace object detectors and semantic segmenters for the command.

Which task a directory holds is read from its ``config.json``: the ``architectures`` that
``save_pretrained`` writes (``...ForObjectDetection``, ``...ForSemanticSegmentation``), else
the model type when it belongs to one task only (SegFormer's type is also an image
classifier's, so a directory without ``architectures`` stays a classifier). Both are explained
by :func:`glas_adapters.hf.explain_detections` / :func:`~glas_adapters.hf.explain_segments` on
the image's own uint8 pixels: boxes and maps are in pixels of the image as read.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from glas_adapters.jobs.models.objects import ObjectModel
from glas_core.errors import fail


def object_task(config: Any) -> str | None:
    """``"detector"``, ``"segmenter"`` or None (another task) for a HuggingFace config.

    Raises
    ------
    GLASError
        A zero-shot detector (OWL-ViT, OWLv2): it needs text queries, which the command does not take.
    """
    from transformers.models.auto import modeling_auto

    architectures = [str(a) for a in (getattr(config, "architectures", None) or [])]
    model_type = getattr(config, "model_type", "")
    if model_type in modeling_auto.MODEL_FOR_ZERO_SHOT_OBJECT_DETECTION_MAPPING_NAMES:
        raise fail("--model", f"a zero-shot {model_type!r} detector", "a detector with its own classes",
                   "explain it from Python with glas_adapters.hf.explain_detections(..., text_queries=[...])")
    for name in architectures:
        if name.endswith("ForObjectDetection"):
            return "detector"
        if name.endswith("ForSemanticSegmentation"):
            return "segmenter"
    if architectures:
        return None
    if model_type in modeling_auto.MODEL_FOR_OBJECT_DETECTION_MAPPING_NAMES:
        return "detector"
    if model_type in modeling_auto.MODEL_FOR_SEMANTIC_SEGMENTATION_MAPPING_NAMES \
            and model_type not in modeling_auto.MODEL_FOR_IMAGE_CLASSIFICATION_MAPPING_NAMES:
        return "segmenter"
    return None


class HFObjectModel(ObjectModel):
    """A HuggingFace detector or semantic segmenter with its processor (Pillow backend)."""

    def __init__(self, model: Any, processor: Any, kind: str, class_names: list[str], description: str) -> None:
        self.model = model
        self.processor = processor
        self.kind = kind
        self.class_names = class_names
        self.description = description

    def explain_image(self, image: np.ndarray, options: dict[str, Any]) -> Any:
        from glas_adapters import hf

        pixels = np.round(np.clip(image, 0.0, 1.0) * 255.0).astype(np.uint8)  # the processor's own input
        explain = hf.explain_detections if self.kind == "detector" else hf.explain_segments
        return explain(self.model, self.processor, pixels, **options)


def load_object_model(path: str, config: Any, device: Any, opts: dict[str, Any]) -> HFObjectModel | None:
    """The detector or segmenter saved in ``path``, or None when its config is another task's."""
    import transformers

    kind = object_task(config)
    if kind is None:
        return None
    auto = transformers.AutoModelForObjectDetection if kind == "detector" else \
        transformers.AutoModelForSemanticSegmentation
    model = auto.from_pretrained(path, **opts).eval().to(device)
    try:  # the adapters rebuild the Pillow processor's steps
        processor = transformers.AutoImageProcessor.from_pretrained(path, backend="pil", **opts)
    except TypeError:  # a transformers without processor backends: Pillow is the only one
        processor = transformers.AutoImageProcessor.from_pretrained(path, **opts)
    id2label = getattr(config, "id2label", None) or {}
    names = [str(id2label.get(i, f"class {i}")) for i in range(int(config.num_labels))]
    what = "detector" if kind == "detector" else "segmenter"
    return HFObjectModel(model, processor, kind, names, f"HuggingFace {what} {path!r}")
