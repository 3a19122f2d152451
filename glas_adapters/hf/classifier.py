"""HuggingFace image classifiers fed raw [0, 1] pixels, for the torch adapter and the core."""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np
import torch

from glas_core.errors import fail

from ..torch.scores import to_probabilities
from .pixels import PixelSpace, model_device_dtype, pixels_01, split_processor


class HFImageClassifier(torch.nn.Module):
    """An ``AutoModelForImageClassification`` that takes raw ``(B, C, H, W)`` pixels in [0, 1].

    Normalisation with the processor's mean and std happens inside ``forward``, after GLAS
    masks the pixels, so ``GLASAttribution(HFImageClassifier(model, processor))`` perturbs
    real pixels (a shadow is black, not the dataset mean).

    Parameters
    ----------
    model : transformers image classification model
        Returns ``.logits``.
    processor : transformers processor or image processor
        Gives the resized pixels (:meth:`prepare`) and ``image_mean`` / ``image_std``.

    Examples
    --------
    >>> clf = HFImageClassifier(model, processor)                  # doctest: +SKIP
    >>> x = clf.prepare(pil_image)                                 # (3, 224, 224) in [0, 1]
    >>> res = glas_core.explain(clf.score_fn(target=281), x)       # or GLASAttribution(clf)
    """

    def __init__(self, model: Any, processor: Any) -> None:
        super().__init__()
        self.model = model
        self.image_processor, _ = split_processor(processor, tokenizer=False)
        self.space = PixelSpace.from_image_processor(self.image_processor)

    def prepare(self, image: Any) -> torch.Tensor:
        """``(C, H, W)`` pixels in [0, 1] at the model's input size, on the model's device."""
        device, _ = model_device_dtype(self.model)
        return pixels_01(self.image_processor, image).to(device)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        """Logits of a ``(B, C, H, W)`` batch of [0, 1] pixels."""
        if pixels.ndim != 4:
            raise fail("pixels", f"a tensor of shape {tuple(pixels.shape)}", "a (B, C, H, W) batch in [0, 1]",
                       "add a batch axis: pixels[None]")
        _, dtype = model_device_dtype(self.model)
        out = self.model(pixel_values=self.space.normalize(pixels, dtype))
        return out.logits if hasattr(out, "logits") else out

    def score_fn(self, target: int | Sequence[int]) -> Callable[[torch.Tensor], torch.Tensor]:
        """A ``glas_core`` score function: softmax probabilities of ``target`` class(es), ``(B, T)``."""
        columns = [int(target)] if isinstance(target, (int, np.integer)) else [int(t) for t in target]

        @torch.no_grad()
        def score(batch: torch.Tensor) -> torch.Tensor:
            return to_probabilities(self(batch), "softmax")[:, columns]

        return score
