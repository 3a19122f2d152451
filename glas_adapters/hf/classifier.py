"""HuggingFace image classifiers fed raw [0, 1] pixels, for the torch adapter and the core."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

import glas_core
from glas_core.errors import fail, quoted

from .checks import model_image_size
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
    >>> maps = glas_adapters.torch.explain(clf, x, 281)           # the adapters' contract  # doctest: +SKIP
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
        pixels = pixels_01(self.image_processor, image)
        expected, got = model_image_size(self.model), tuple(int(s) for s in pixels.shape[-2:])
        if expected is not None and got != expected:
            raise fail("processor", f"{type(self.image_processor).__name__} resizing to {got[0]} x {got[1]} pixels",
                       f"the {expected[0]} x {expected[1]} pixels the model is built for",
                       "use the processor saved with the model (AutoImageProcessor.from_pretrained of the same name)")
        return pixels.to(device)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        """Logits of a ``(B, C, H, W)`` batch of [0, 1] pixels."""
        if pixels.ndim != 4:
            raise fail("pixels", f"a tensor of shape {tuple(pixels.shape)}", "a (B, C, H, W) batch in [0, 1]",
                       "add a batch axis: pixels[None]")
        _, dtype = model_device_dtype(self.model)
        out = self.model(pixel_values=self.space.normalize(pixels, dtype))
        return out.logits if hasattr(out, "logits") else out

    def n_classes(self) -> int | None:
        """Classes the model scores (``config.num_labels``), when its config says."""
        count = getattr(getattr(self.model, "config", None), "num_labels", None)
        return int(count) if isinstance(count, int) else None

    def _column(self, target: Any) -> int:
        if isinstance(target, str):
            label2id = getattr(getattr(self.model, "config", None), "label2id", None) or {}
            hint = (f"pass the class index: model.config.label2id[{target!r}] is {label2id[target]}"
                    if target in label2id else "pass the class index (model.config.label2id maps names to indices)")
            raise fail("target", quoted(target), "a class index (int)", hint)
        if isinstance(target, bool) or not isinstance(target, (int, np.integer)):
            raise fail("target", quoted(target), "a class index (int)", "pass e.g. target=3")
        count = self.n_classes()
        if target < 0 or (count is not None and target >= count):
            raise fail("target", int(target), f"a class index in [0, {count})" if count else "a class index >= 0",
                       "pick a class of this model (model.config.id2label lists them)")
        return int(target)

    def score_fn(self, target: int | Sequence[int], *, log: bool = False) -> Callable[[torch.Tensor], torch.Tensor]:
        """A ``glas_core`` score function of ``target`` class(es), ``(B, T)``.

        Softmax probabilities, or with ``log=True`` log-probabilities
        (:func:`glas_core.log_probabilities`, float32) for ``glas_core.explain(..., log_scores=True)``,
        which keeps the map informative where a confident model's probabilities underflow.
        """
        targets = [target] if isinstance(target, (int, np.integer, str)) else list(target)
        if not targets:
            raise fail("target", "an empty list", "a class index or a list of them", "pass e.g. target=3")
        columns = [self._column(t) for t in targets]

        @torch.no_grad()
        def score(batch: torch.Tensor) -> torch.Tensor:
            logits = self(batch).float()
            if log:
                return glas_core.log_probabilities(logits, columns)
            return torch.softmax(logits, dim=-1)[:, columns]

        return score
