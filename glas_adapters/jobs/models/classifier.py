"""What every model the command explains offers: [0, 1] pixels in, class probabilities and maps out.

Every model perturbs pixels in [0, 1]: normalisation runs inside the wrapped forward pass,
after the Gaussian masks, so a shadow is darkness (the paper's ``I * (1 - G)``) whatever the
model's input normalisation is.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

import glas_core
from glas_adapters._common import numpy_probabilities
from glas_adapters.jobs.image_io import resize_image
from glas_core.errors import fail

__all__ = ["NORMALIZATIONS", "Classifier", "ExplainSettings", "resize_image"]

#: ``--normalize`` choices: how [0, 1] pixels become model inputs (mean, std per channel).
NORMALIZATIONS: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = {
    "none": ((0.0, 0.0, 0.0), (1.0, 1.0, 1.0)),
    "imagenet": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
    "minus1to1": ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),
    "0to255": ((0.0, 0.0, 0.0), (1 / 255, 1 / 255, 1 / 255)),
}


@dataclass
class ExplainSettings:
    """The GLAS settings the command line sets; None is the adapters' default (see :func:`glas_core.explain`)."""

    grid: int | tuple[int, int] | None = None
    sigmas: Sequence[Any] = (None,)   # one entry per scale
    mode: str = "fusion"
    batch_size: int = 32
    recursive: bool = False
    progress: bool = True
    #: Several sigmas: sweep each finer scale only where the coarser map found evidence
    #: (``explain_multiscale(adaptive=True)``); False sweeps every point at every scale.
    adaptive: bool = True


class Classifier:
    """A loaded image classifier, seen through [0, 1] pixels, explained through its adapter.

    Subclasses set ``input_size``, ``class_names`` (or None), ``description``,
    ``probabilities_kind`` and ``runtime``, and implement :meth:`prepare`, :meth:`outputs`,
    :meth:`adapter_call` and :meth:`display`; how the clean scores are read and how GLAS is called (one sweep per
    scale for every target, the adaptive search, Recursive GLAS) is written here once, for
    every framework, through the adapters' shared contract.
    """

    kind = "classifier"
    #: True when :meth:`prepare` only resizes, so maps may be stretched over the original image.
    plain_resize = True
    input_size: tuple[int, int]
    class_names: list[str] | None
    description: str
    probabilities_kind: str | None
    #: What runs the forward passes, as the manifest's ``runtime`` column says it ("torch", "onnx", ...).
    runtime: str | None = None
    #: A note for the run's summary line (e.g. why the built-in model runs on PyTorch), or None.
    runtime_note: str | None = None

    def threads(self) -> int | None:
        """Intra-op CPU threads the runtime uses for this model (None: unknown)."""
        return None

    def prepare(self, image: np.ndarray) -> Any:  # pragma: no cover - interface
        """``(H, W, 3)`` [0, 1] image -> the example GLAS perturbs (resized pixels)."""
        raise NotImplementedError

    def outputs(self, x: Any) -> Any:  # pragma: no cover - interface
        """The model's raw outputs on the clean example (a batch of one)."""
        raise NotImplementedError

    def adapter_call(self, x: Any) -> tuple[Any, Any, Any, dict[str, Any]]:  # pragma: no cover - interface
        """``(adapter module, model, model input, extra keywords)`` of an explanation of ``x``."""
        raise NotImplementedError

    def display(self, x: Any) -> np.ndarray:  # pragma: no cover - interface
        """The example as an ``(H, W, 3)`` NumPy image for figures."""
        raise NotImplementedError

    def model_context(self) -> Any:
        """A context every model call of the classifier runs in (e.g. a TensorFlow device)."""
        return contextlib.nullcontext()

    def probabilities(self, x: Any) -> np.ndarray:
        """``P(class | x)`` of the clean example, ``(num_classes,)`` float64."""
        with self.model_context():
            out = np.asarray(glas_core.to_numpy(self.outputs(x)), dtype=np.float64)
        if out.ndim != 2 or out.shape[0] != 1:
            raise fail("model output", f"shape {out.shape} from {self.description}",
                       "a (batch, num_classes) array of class scores", "export a model whose output is the logits")
        probs = numpy_probabilities(out, self.probabilities_kind)[0].astype(np.float64)
        if not np.all(np.isfinite(probs)):
            raise fail("model output", f"NaN or inf from {self.description}", "finite",
                       "check the model and the --normalize setting")
        return probs

    def explain(self, x: Any, targets: list[int], settings: ExplainSettings) -> list[Any]:
        """One GLASResult per scale (or one RecursiveResult with ``settings.recursive``), each
        ``(T, H, W)`` for the T targets, all explained in the same sweeps."""
        adapter, model, inputs, extra = self.adapter_call(x)
        classes = [int(t) for t in targets]  # a list for one example: several classes, one map each
        common = dict(grid=settings.grid, mode=settings.mode, batch_size=settings.batch_size,
                      probabilities=self.probabilities_kind, progress=settings.progress, return_result=True, **extra)
        with self.model_context():
            if settings.recursive:
                return [adapter.explain_recursive(model, inputs, classes, sigma=settings.sigmas[0], **common)]
            if settings.adaptive and len(settings.sigmas) > 1:
                return adapter.explain_multiscale(model, inputs, classes, sigmas=list(settings.sigmas), adaptive=True,
                                                  **common)
            return [adapter.explain(model, inputs, classes, sigma=sigma, **common) for sigma in settings.sigmas]

    def label(self, index: int) -> str:
        """The class name of ``index`` (or ``class <index>`` when names are unknown)."""
        if self.class_names is not None and 0 <= index < len(self.class_names):
            return self.class_names[index]
        return f"class {index}"
