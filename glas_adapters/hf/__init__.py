"""GLAS for HuggingFace models: every word of an image caption, and image classifiers.

>>> from glas_adapters.hf import CaptionExplainer                       # doctest: +SKIP
>>> exp = CaptionExplainer(model, processor).explain(image)             # doctest: +SKIP
>>> exp.words, exp.maps.shape                                           # doctest: +SKIP
(['a', 'cat', 'on', 'a', 'sofa'], (5, 384, 384))

>>> from glas_adapters.hf import HFImageClassifier                      # doctest: +SKIP
>>> clf = HFImageClassifier(model, processor)        # takes [0, 1] pixels: use it with glas_adapters.torch

Modules: ``caption`` (:class:`CaptionExplainer`, one sweep for every word), ``classifier``
(:class:`HFImageClassifier`), ``families`` (teacher-forced token scores of each captioner
family), ``pixels`` (processor pixels in [0, 1], normalised after masking), ``words`` (tokens
grouped into words).
"""

from __future__ import annotations

from .caption import CaptionExplainer, CaptionExplanation, CaptionScorer
from .classifier import HFImageClassifier
from .families import CUSTOM_HINT
from .words import group_words

__all__ = ["CaptionExplainer", "CaptionExplanation", "CaptionScorer", "HFImageClassifier", "group_words",
           "CUSTOM_HINT"]
