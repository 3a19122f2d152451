"""GLAS for HuggingFace models: every word of an image caption, and image classifiers.

>>> from glas_adapters.hf import CaptionExplainer                       # doctest: +SKIP
>>> exp = CaptionExplainer(model, processor).explain(image)             # doctest: +SKIP
>>> exp.words, exp.maps.shape                                           # doctest: +SKIP
(['a', 'cat', 'on', 'a', 'sofa'], (5, 384, 384))

>>> from glas_adapters.hf import HFImageClassifier                      # doctest: +SKIP
>>> clf = HFImageClassifier(model, processor)        # takes [0, 1] pixels: use it with glas_adapters.torch

Modules: ``caption`` (:class:`CaptionExplainer`, one sweep for every word), ``classifier``
(:class:`HFImageClassifier`), ``families`` and ``decoder_only`` (teacher-forced token scores
of each captioner family), ``prompts`` (chat prompts with their image tokens), ``vision``
(what the vision encoder is fed: normalised pixels, or the processor's patches and crops
rebuilt from masked pixels), ``pixels`` (processor pixels in [0, 1], image checks),
``checks`` (model, processor and tokenizer fit together), ``words`` (tokens grouped into words).
"""

from __future__ import annotations

from .caption import CaptionExplainer, CaptionExplanation, CaptionScorer
from .classifier import HFImageClassifier
from .families import CUSTOM_HINT
from .words import group_words

__all__ = ["CaptionExplainer", "CaptionExplanation", "CaptionScorer", "HFImageClassifier", "group_words",
           "CUSTOM_HINT"]
