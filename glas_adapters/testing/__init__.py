"""Toy models for tests, examples and your own tests (as ``captum.testing`` is for Captum).

Everything here is built from a seed or trained offline on synthetic data: nothing is
downloaded. The submodules import their frameworks when first used, not on
``import glas_adapters.testing``:

- :mod:`glas_adapters.testing.torch_models` (torch): ``TinyCNN``, ``TinyCNN3d``, ``CallLog``
  and ``images``, tiny seeded classifiers whose GLAS maps are not flat.
- :mod:`glas_adapters.testing.captioner` (torch, transformers, tokenizers): a ViT + GPT-2
  captioner of coloured shapes, its scenes, tokenizer and image processor, trained in about
  a minute and cached.
"""

from __future__ import annotations

import importlib
from types import ModuleType

__all__ = ["captioner", "torch_models"]


def __getattr__(name: str) -> ModuleType:
    if name in __all__:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
