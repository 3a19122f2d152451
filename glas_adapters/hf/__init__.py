"""GLAS for HuggingFace models: every word of an image caption; image, video and audio classifiers.

>>> from glas_adapters.hf import CaptionExplainer                       # doctest: +SKIP
>>> exp = CaptionExplainer(model, processor).explain(image)             # doctest: +SKIP
>>> exp.words, exp.maps.shape                                           # doctest: +SKIP
(['a', 'cat', 'on', 'a', 'sofa'], (5, 384, 384))

>>> from glas_adapters.hf import HFImageClassifier                      # doctest: +SKIP
>>> clf = HFImageClassifier(model, processor)        # takes [0, 1] pixels: use it with glas_adapters.torch

>>> from glas_adapters.hf import explain_detections, explain_segments  # doctest: +SKIP
>>> explain_detections(detr, processor, image).maps.shape              # doctest: +SKIP
(3, 480, 640)

>>> from glas_adapters.hf import HFVideoClassifier                      # doctest: +SKIP
>>> HFVideoClassifier(model, processor).explain(clip, targets=[3, 7]).maps.shape   # doctest: +SKIP
(2, 16, 224, 224)
>>> from glas_adapters.hf import HFAudioClassifier                      # doctest: +SKIP
>>> HFAudioClassifier(model, extractor).explain(wave, sampling_rate=16000).maps.shape   # doctest: +SKIP
(1, 16000)

Modules: ``caption`` (:class:`CaptionExplainer`, one sweep for every word), ``classifier``
(:class:`HFImageClassifier`), ``video`` (:class:`HFVideoClassifier`, every class of a clip over
time and space in one sweep), ``audio`` (:class:`HFAudioClassifier`, every class of a waveform
over its samples in one sweep), ``families`` and ``decoder_only`` (teacher-forced token scores
of each captioner family), ``prompts`` (chat prompts with their image tokens), ``vision``
(what the vision encoder is fed: normalised pixels, or the processor's patches and crops
rebuilt from masked pixels), ``pixels`` (processor pixels in [0, 1], image checks),
``checks`` (model, processor and tokenizer fit together), ``words`` (tokens grouped into words),
``detection`` and ``segmentation`` (every box or class region of an image in one sweep),
``object_pixels`` and ``resample`` (a detector's or segmenter's processor rebuilt in torch).
"""

from __future__ import annotations

from .audio import AudioExplanation, HFAudioClassifier
from .caption import CaptionExplainer, CaptionExplanation, CaptionScorer
from .classifier import HFImageClassifier
from .detection import HFDetector, explain_detections
from .families import CUSTOM_HINT
from .segmentation import HFSegmenter, explain_segments
from .video import HFVideoClassifier, VideoExplanation
from .words import group_words

__all__ = ["AudioExplanation", "CaptionExplainer", "CaptionExplanation", "CaptionScorer", "HFAudioClassifier",
           "HFDetector", "HFImageClassifier", "HFSegmenter", "HFVideoClassifier", "VideoExplanation",
           "explain_detections", "explain_segments", "group_words", "CUSTOM_HINT"]
