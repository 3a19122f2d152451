"""HuggingFace audio and video classifiers as the job layer runs them (:mod:`glas_adapters.jobs.signals`).

``glas explain --model DIR`` loads a directory holding an ``AutoModelForAudioClassification``
(Wav2Vec2, HuBERT, AST ...) and its feature extractor, or an ``AutoModelForVideoClassification``
(VideoMAE, TimeSformer, ViViT) and its image processor; both are explained with
:mod:`glas_adapters.hf` (:class:`~glas_adapters.hf.HFAudioClassifier`,
:class:`~glas_adapters.hf.HFVideoClassifier`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from glas_core.errors import fail


class SignalModel:
    """A loaded audio or video classifier: what the job layer needs besides the adapter itself.

    Attributes
    ----------
    kind : {"audio", "video"}
    clf : HFAudioClassifier or HFVideoClassifier
        The adapter, which explains.
    class_names : list of str
        ``config.id2label`` in class order.
    description : str
        Shown in figure titles.
    """

    runtime = "torch"
    runtime_note: str | None = None

    def __init__(self, kind: str, clf: Any, class_names: list[str], description: str) -> None:
        self.kind = kind
        self.clf = clf
        self.class_names = class_names
        self.description = description

    def label(self, index: int) -> str:
        return self.class_names[index] if 0 <= index < len(self.class_names) else f"class {index}"

    def threads(self) -> int | None:
        import torch

        return int(torch.get_num_threads())


@contextlib.contextmanager
def _no_loading_bar() -> Iterator[None]:
    """transformers' "Loading weights" bar off while a model loads (a glas error stays one line); put back after."""
    from transformers.utils import logging as hf_logging

    shown = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if shown:
            hf_logging.enable_progress_bar()


def load_signal_model(path: str, config: Any, device: Any) -> SignalModel | None:
    """The audio or video classifier saved in ``path``, or None when ``config`` is neither."""
    with _no_loading_bar():
        return _load(path, config, device)


def _load(path: str, config: Any, device: Any) -> SignalModel | None:
    import transformers
    from transformers.models.auto import modeling_auto

    from glas_adapters import hf as glas_hf

    opts: dict[str, Any] = dict(local_files_only=True, trust_remote_code=False)
    model_type = getattr(config, "model_type", "")
    id2label = getattr(config, "id2label", None) or {}
    names = [str(id2label.get(i, f"class {i}")) for i in range(int(getattr(config, "num_labels", 0) or 0))]
    if model_type in modeling_auto.MODEL_FOR_AUDIO_CLASSIFICATION_MAPPING_NAMES:
        model = transformers.AutoModelForAudioClassification.from_pretrained(path, **opts).eval().to(device)
        extractor = transformers.AutoFeatureExtractor.from_pretrained(path, **opts)
        return SignalModel("audio", glas_hf.HFAudioClassifier(model, extractor), names,
                           f"HuggingFace audio classifier {path!r}")
    if model_type in modeling_auto.MODEL_FOR_VIDEO_CLASSIFICATION_MAPPING_NAMES:
        model = transformers.AutoModelForVideoClassification.from_pretrained(path, **opts).eval().to(device)
        try:
            processor = transformers.AutoImageProcessor.from_pretrained(path, **opts)
        except Exception as exc:  # noqa: BLE001 - one line naming the missing file
            raise fail("--model", f"the video classifier {path!r} without an image processor it can load "
                       f"({' '.join(str(exc).split())[:120]})", "a directory with preprocessor_config.json",
                       "save the model's image processor beside it: processor.save_pretrained(dir)") from None
        return SignalModel("video", glas_hf.HFVideoClassifier(model, processor), names,
                           f"HuggingFace video classifier {path!r}")
    return None
