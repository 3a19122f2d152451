"""Segmentation targets: a class and a region of a segmenter's output, one map per region from one sweep.

A target is a class ``c`` and a region ``R`` of the model's output grid: by default the
model's own clean-image region of ``c`` (one target per class present), or a mask the caller
gives. Its score on an image is the mean over ``R`` of the class's log-probability,
``(1/|R|) sum_{p in R} log P(c | I, p)``: the log of the region's geometric-mean probability
of ``c``, which plays the paper's ``log P(y | I)`` in Eq. 1-3 (fused in the log domain). The
mean, not the sum, keeps one unit for every region: a sum would grow with the region's size
and give large regions' maps a scale small ones never reach, and it would not be a
log-probability. An empty region has no mean and is refused.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np

import glas_core
from glas_core._array_api import device_of, namespace_of
from glas_core.errors import fail, quoted

_KINDS = ("softmax", "sigmoid")


def segmentation_logits(outputs: Any, rows: int, channels_last: bool) -> Any:
    """Check a segmenter's outputs on ``rows`` images and return them as ``(rows, C, h, w)``."""
    shape = tuple(int(s) for s in getattr(outputs, "shape", ()))
    if not hasattr(outputs, "shape") or len(shape) != 4 or shape[0] != rows:
        shown = f"shape {shape}" if hasattr(outputs, "shape") else f"a {type(outputs).__name__}"
        layout = "(N, h, w, C)" if channels_last else "(N, C, h, w)"
        raise fail("model output", shown, f"segmentation logits {layout} for {rows} image(s)",
                   "wrap the segmenter so that it returns its logits tensor, e.g. lambda x: model(x).logits")
    xp = namespace_of(outputs)
    return xp.permute_dims(outputs, (0, 3, 1, 2)) if channels_last else outputs


def region_log_scores(logits: Any, classes: Sequence[int], weights: Any, kind: str) -> Any:
    """``(B, T)`` mean log-probability of each target's class over its region.

    Parameters
    ----------
    logits : array
        ``(B, C, h, w)`` segmentation logits (any array-API namespace).
    classes : sequence of int
        The class of each of the T targets.
    weights : array
        ``(T, h * w)`` region weights: ``1 / |R_t|`` inside region t, 0 outside, in the logits'
        namespace.
    kind : {"softmax", "sigmoid"}
        Exclusive classes per pixel, or independent ones.
    """
    xp = namespace_of(logits)
    b, c, h, w = (int(s) for s in logits.shape)
    pixels = xp.reshape(xp.permute_dims(logits, (0, 2, 3, 1)), (b * h * w, c))
    used = sorted(set(int(k) for k in classes))
    logp = glas_core.log_probabilities(pixels, used, kind)  # (B*h*w, U)
    logp = xp.reshape(logp, (b, h * w, len(used)))
    columns = []
    for t, k in enumerate(classes):
        per_pixel = logp[:, :, used.index(int(k))]
        columns.append(xp.sum(per_pixel * weights[t, :][None, :], axis=1))
    return xp.stack(columns, axis=1)


@dataclasses.dataclass(frozen=True)
class SegmentRegions:
    """Explain a segmenter's regions: one map per (class, region), all from one sweep.

    Parameters
    ----------
    classes : sequence of int, optional
        Explain these classes' regions in the model's clean segmentation (default: every class
        present); with ``masks``, the class of each mask.
    masks : array, optional
        ``(T, h, w)`` boolean regions on the model's output grid (a list of one per image for
        a batch), each explained for its class in ``classes``.
    probabilities : {"softmax", "sigmoid"}
        Exclusive classes per pixel (softmax over the class axis), or independent ones.
    """

    classes: Any = None
    masks: Any = None
    probabilities: str = "softmax"

    #: region scores are mean log-probabilities, fused in the log domain
    log_scores = True

    def __post_init__(self) -> None:
        if self.probabilities not in _KINDS:
            raise fail("probabilities", quoted(self.probabilities), "'softmax' or 'sigmoid' (segmentation logits)",
                       "use probabilities='softmax' for one class per pixel, 'sigmoid' for multi-label masks")
        if self.masks is not None and self.classes is None:
            raise fail("classes", "None", "the class of each mask", "pass classes=[c0, c1, ...] with masks")

    def resolve(self, clean: Any, example: int, n_examples: int, image_size: tuple[int, int],
                channels_last: bool = False) -> RegionTargets:
        """The regions of example ``example`` to explain, from the model's ``clean`` logits on it."""
        logits = glas_core.to_numpy(segmentation_logits(clean, 1, channels_last))[0]  # (C, h, w)
        if not np.all(np.isfinite(logits)):
            raise fail("model output", "NaN or infinite logits", "finite segmentation logits",
                       "check the segmenter on this input (dtype, normalisation)")
        n_classes = int(logits.shape[0])
        predicted = np.argmax(logits, axis=0) if self.probabilities == "softmax" else None
        present = sorted(set(np.unique(predicted).tolist())) if predicted is not None else \
            sorted(np.flatnonzero((logits > 0).any(axis=(1, 2))).tolist())
        classes = self._classes(example, n_examples)
        if classes is None:
            classes = present
        for k in classes:
            if not 0 <= k < n_classes:
                raise fail("classes", k, f"a class the model has (0..{n_classes - 1})", "use the model's class indices")
        if self.masks is None:
            masks = np.stack([(predicted == k) if predicted is not None else logits[k] > 0 for k in classes], axis=0) \
                if classes else np.zeros((0,) + logits.shape[1:], dtype=bool)
            empty = [k for k, m in zip(classes, masks) if not m.any()]
            if empty or not classes:
                raise fail("classes", classes, f"classes the model finds on this image ({present})",
                           "explain one of those classes, or pass its region with masks=")
        else:
            masks = self._masks(example, n_examples, tuple(logits.shape[1:]), image_size, len(classes))
        return RegionTargets(np.asarray(classes, dtype=np.int64), masks, self.probabilities, channels_last)

    def _classes(self, example: int, n_examples: int) -> list[int] | None:
        classes = self.classes
        if classes is None:
            return None
        if n_examples > 1 and self.masks is not None:
            classes = classes[example]
        arr = np.asarray(glas_core.to_numpy(classes) if hasattr(classes, "shape") else classes).reshape(-1)
        if arr.size == 0 or arr.dtype.kind not in "iu":
            raise fail("classes", quoted(self.classes), "a non-empty list of int class indices",
                       "pass e.g. classes=[1, 3]")
        return [int(k) for k in arr]

    def _masks(self, example: int, n_examples: int, grid: tuple[int, int], image_size: tuple[int, int],
               n_targets: int) -> np.ndarray:
        masks = self.masks
        if n_examples > 1:
            if not isinstance(masks, (list, tuple)) or len(masks) != n_examples:
                raise fail("masks", type(masks).__name__, f"a list of {n_examples} mask arrays, one per image",
                           "pass masks=[masks_of_image_0, ...] with classes=[classes_of_image_0, ...]")
            masks = masks[example]
        arr = np.asarray(glas_core.to_numpy(masks) if hasattr(masks, "shape") else masks)
        if arr.ndim == 2:
            arr = arr[None]
        if arr.ndim != 3 or arr.shape[0] != n_targets or tuple(arr.shape[1:]) != grid:
            other = "" if grid == tuple(image_size) else f" (the model's output grid, not the {image_size} image)"
            raise fail("masks", f"shape {arr.shape}", f"({n_targets}, {grid[0]}, {grid[1]}): one mask per class on "
                       f"the model's {grid[0]}x{grid[1]} output{other}",
                       "resize the masks to the output grid (nearest), or make the model return logits at the "
                       "image's size")
        if arr.dtype != bool and not np.all((arr == 0) | (arr == 1)):
            raise fail("masks", f"values of dtype {arr.dtype} other than 0 and 1", "boolean masks",
                       "threshold soft masks first, e.g. masks > 0.5")
        region = arr.astype(bool)
        empty = [i for i in range(region.shape[0]) if not region[i].any()]
        if empty:
            raise fail("masks", f"mask {empty[0]} with no pixel set", "a non-empty region per mask (a mean over "
                       "no pixel is undefined)", "drop empty masks")
        return region


@dataclasses.dataclass(frozen=True)
class RegionTargets:
    """The regions of one image being explained, and their score on any batch of perturbed images.

    Attributes
    ----------
    classes : numpy.ndarray
        ``(T,)`` the class of each region.
    masks : numpy.ndarray
        ``(T, h, w)`` boolean regions on the model's output grid.
    """

    classes: np.ndarray
    masks: np.ndarray
    probabilities: str = "softmax"
    channels_last: bool = False
    # the region weights on each (namespace, device, dtype) the outputs came on: copied there once, not per chunk
    _weights: dict = dataclasses.field(default_factory=dict, repr=False, compare=False)

    @property
    def n_targets(self) -> int:
        return int(self.classes.shape[0])

    def score(self, outputs: Any, rows: int) -> Any:
        """``(rows, T)`` mean log-probabilities of each region's class, in the outputs' namespace."""
        logits = segmentation_logits(outputs, rows, self.channels_last)
        if tuple(int(s) for s in logits.shape[2:]) != tuple(self.masks.shape[1:]):
            raise fail("model output", f"a {tuple(logits.shape[2:])} grid after {tuple(self.masks.shape[1:])}",
                       "the same output grid for every input", "make the segmenter return a fixed-size output")
        xp = namespace_of(logits)
        dtype = xp.float64 if logits.dtype == xp.float64 else xp.float32
        key = (id(xp), str(device_of(logits)), str(dtype))
        if key not in self._weights:
            flat = self.masks.reshape(self.masks.shape[0], -1).astype(np.float64)
            self._weights[key] = xp.asarray(flat / flat.sum(axis=1, keepdims=True), dtype=dtype,
                                            device=device_of(logits))
        return region_log_scores(logits, [int(k) for k in self.classes], self._weights[key], self.probabilities)

    def describe(self) -> dict[str, np.ndarray]:
        return {"classes": self.classes, "masks": self.masks}
