"""Detection targets: every box a detector found (or the caller gave), scored by D-RISE's similarity.

The score of a perturbed image for detection ``d`` is the similarity of D-RISE (Petsiuk et al.,
CVPR 2021, Eq. 2-3), restricted to what every detector reports: the best match, over the
perturbed image's detections ``j``, of ``IoU(box_d, box_j) * p_j(class_d)``, where
``p_j(class_d)`` is detection j's probability of d's class (its whole class vector where the
model gives one, else its score when its label is d's class and 0 otherwise), times its
objectness where the model has one. The similarity lies in [0, 1] and plays the role of the
paper's ``P(y | I)`` in Eq. 1-3 (read as probabilities, not log-probabilities: it is exactly 0
when nothing matches, and it is not a product of many small probabilities that float32 would
lose). All detections of an image are the columns of one sweep.

Model outputs read (one batch of B images):

- torchvision's list of B dicts ``{"boxes": (M, 4), "scores": (M,), "labels": (M,)}`` (optional
  ``"objectness"``); HuggingFace detectors are wrapped into this form by ``glas_adapters.hf``;
- a dict of batched arrays with the same keys, ``(B, M, 4)``, ``(B, M)``, ``(B, M)`` (ONNX
  Runtime and Keras detectors, the outputs named by the caller);
- a tuple ``(logits (B, M, C), boxes (B, M, 4))`` or ``(logits, boxes, objectness (B, M))`` of a
  set-prediction detector (no NMS needed), its class probabilities from ``probabilities``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np

import glas_core
from glas_core.errors import GLASError, fail, quoted

from .._common import check_probabilities, numpy_probabilities
from .boxes import as_boxes, box_iou, check_box_order, check_pixel_boxes

#: how far a detector's score may stray outside [0, 1] by round-off before it is refused
SCORE_TOLERANCE = 1e-3

_KEYS = ("boxes", "scores", "labels")


@dataclasses.dataclass(frozen=True)
class DetectionSet:
    """What a detector found on one image, on the host.

    Attributes
    ----------
    boxes : numpy.ndarray
        ``(M, 4)`` float64 xyxy pixel boxes.
    scores, labels : numpy.ndarray
        ``(M,)`` score of each box's label, and the label.
    class_probs : numpy.ndarray or None
        ``(M, C)`` probability of every class where the model gives it.
    """

    boxes: np.ndarray
    scores: np.ndarray
    labels: np.ndarray
    class_probs: np.ndarray | None = None

    def class_score(self, label: int) -> np.ndarray:
        """``(M,)`` each detection's probability of class ``label`` (0 where another label won)."""
        if self.class_probs is not None:
            return self.class_probs[:, label]
        return np.where(self.labels == label, self.scores, 0.0)


def drise_similarity(boxes: np.ndarray, labels: np.ndarray, found: DetectionSet) -> np.ndarray:
    """D-RISE's similarity of each target detection to an image's detections (Petsiuk et al. 2021, Eq. 3).

    ``s_d = max_j IoU(box_d, box_j) * p_j(class_d)`` (the objectness, where the model has one,
    is already in ``found``'s scores). 0 when the image has no detection.

    Parameters
    ----------
    boxes : numpy.ndarray
        ``(T, 4)`` target boxes.
    labels : numpy.ndarray
        ``(T,)`` target classes.
    found : DetectionSet
        The detections of one (perturbed) image.

    Returns
    -------
    numpy.ndarray
        ``(T,)`` similarities in [0, 1].
    """
    if found.boxes.shape[0] == 0:
        return np.zeros(boxes.shape[0])
    iou = box_iou(boxes, found.boxes)  # (T, M)
    probs = np.stack([found.class_score(int(c)) for c in labels], axis=0)  # (T, M)
    return np.max(iou * probs, axis=1)


def _host(value: Any, name: str) -> np.ndarray:
    try:
        return np.asarray(glas_core.to_numpy(value) if hasattr(value, "shape") else value)
    except (TypeError, ValueError, glas_core.GLASError):
        raise fail(name, type(value).__name__, "an array", "return tensors or arrays from the detector") from None


def _one_set(boxes: Any, scores: Any, labels: Any, objectness: Any, where: str) -> DetectionSet:
    box = _host(boxes, f"{where} boxes").astype(np.float64).reshape(-1, 4)
    score = _host(scores, f"{where} scores").astype(np.float64).reshape(-1)
    label = _host(labels, f"{where} labels").reshape(-1)
    if not (box.shape[0] == score.shape[0] == label.shape[0]):
        raise fail("model output", f"{where}: {box.shape[0]} boxes, {score.shape[0]} scores, {label.shape[0]} labels",
                   "one score and one label per box", "return boxes (M, 4), scores (M,) and labels (M,) together")
    if label.size and (label.dtype.kind not in "iu" and not np.all(label == np.round(label))):
        raise fail("model output", f"{where} labels of dtype {label.dtype}", "integer class indices",
                   "return class indices as labels, not class names or probabilities")
    if objectness is not None:
        score = score * _host(objectness, f"{where} objectness").astype(np.float64).reshape(-1)
    _check_scores(score, where)
    return DetectionSet(box, score, label.astype(np.int64))


def _check_scores(score: np.ndarray, where: str) -> None:
    if not np.all(np.isfinite(score)):
        raise fail("model output", f"{where}: NaN or infinite scores", "finite detection scores",
                   "check the detector on perturbed inputs (dtype, normalisation)")
    if score.size and (float(score.min()) < -SCORE_TOLERANCE or float(score.max()) > 1 + SCORE_TOLERANCE):
        raise fail("model output", f"{where}: scores in [{score.min():.4g}, {score.max():.4g}]",
                   "detection scores (probabilities) in [0, 1]",
                   "return probabilities (e.g. sigmoid or softmax of the logits) as scores")


def parse_detections(outputs: Any, rows: int, probabilities: Any = "softmax") -> list[DetectionSet]:
    """A detector's outputs on a batch of ``rows`` images, one :class:`DetectionSet` per image.

    Parameters
    ----------
    outputs
        One of the forms of this module's docstring.
    rows : int
        Images in the batch.
    probabilities : "softmax", "sigmoid", None or callable
        How the logits of a ``(logits, boxes)`` output become class probabilities.

    Raises
    ------
    GLASError
        For any other form, naming what was received.
    """
    if isinstance(outputs, (list, tuple)) and len(outputs) == rows and all(isinstance(o, dict) for o in outputs):
        sets = []
        for i, item in enumerate(outputs):
            missing = [k for k in _KEYS if k not in item]
            if missing:
                raise fail("model output", f"image {i}'s dict with keys {sorted(item)}",
                           "the keys 'boxes', 'scores' and 'labels' (torchvision's detection output)",
                           "wrap the detector so that it returns them")
            sets.append(_one_set(item["boxes"], item["scores"], item["labels"], item.get("objectness"),
                                 f"image {i}"))
        return sets
    if isinstance(outputs, dict) and all(k in outputs for k in _KEYS):
        boxes = _host(outputs["boxes"], "boxes")
        if boxes.ndim != 3 or boxes.shape[0] != rows:
            raise fail("model output", f"boxes of shape {boxes.shape} for {rows} image(s)",
                       f"batched boxes ({rows}, M, 4)", "return one row of boxes per image")
        objectness = outputs.get("objectness")
        return [_one_set(boxes[i], _host(outputs["scores"], "scores")[i], _host(outputs["labels"], "labels")[i],
                         None if objectness is None else _host(objectness, "objectness")[i], f"image {i}")
                for i in range(rows)]
    if isinstance(outputs, (list, tuple)) and len(outputs) in (2, 3) and all(hasattr(o, "shape") for o in outputs):
        return _set_prediction(outputs, rows, probabilities)
    shown = type(outputs).__name__
    if isinstance(outputs, dict):
        shown = f"a dict with keys {sorted(outputs)}"
    elif isinstance(outputs, (list, tuple)):
        shown = f"a {type(outputs).__name__} of {len(outputs)} {sorted({type(o).__name__ for o in outputs})}"
    elif hasattr(outputs, "shape"):
        shown = f"one array of shape {tuple(outputs.shape)}"
    raise fail("model output", shown,
               f"detections of {rows} image(s): a list of dicts with 'boxes', 'scores', 'labels' (torchvision), "
               "a dict of batched arrays with those keys, or (logits (B, M, C), boxes (B, M, 4))",
               "wrap the detector so that it returns one of these")


def _set_prediction(outputs: Sequence[Any], rows: int, probabilities: Any) -> list[DetectionSet]:
    """``(logits, boxes[, objectness])`` of a set-prediction detector, one set per image."""
    logits, boxes = _host(outputs[0], "logits"), _host(outputs[1], "boxes")
    if logits.ndim != 3 or boxes.ndim != 3 or boxes.shape[2] != 4 or logits.shape[:2] != boxes.shape[:2] \
            or logits.shape[0] != rows:
        raise fail("model output", f"logits {logits.shape} and boxes {boxes.shape} for {rows} image(s)",
                   f"logits ({rows}, M, C) and boxes ({rows}, M, 4)", "return one row of M queries per image")
    probs = numpy_probabilities(logits.reshape(-1, logits.shape[2]), probabilities).reshape(logits.shape)
    if len(outputs) == 3:
        probs = probs * _host(outputs[2], "objectness").astype(np.float64).reshape(rows, -1, 1)
    sets = []
    for i in range(rows):
        _check_scores(probs[i].reshape(-1), f"image {i}")
        sets.append(DetectionSet(boxes[i].astype(np.float64), probs[i].max(axis=1), probs[i].argmax(axis=1),
                                 probs[i].astype(np.float64)))
    return sets


class NoDetectionError(GLASError):
    """No detection of the clean image scores ``min_score``; ``best_score`` is the highest one
    (None when the detector found no box at all), for callers that word their own fix."""

    def __init__(self, min_score: float, best_score: float | None) -> None:
        best = f"the highest score was {best_score:.4g}" if best_score is not None else \
            "the detector found no box at all"
        super().__init__(str(fail("min_score", min_score, f"at most the best detection's score on this image ({best})",
                                  "lower min_score, or pass the boxes to explain with boxes= and labels=")))
        self.min_score = min_score
        self.best_score = best_score


@dataclasses.dataclass(frozen=True)
class Detections:
    """Explain a detector's detections: one map per box, all from one sweep.

    Parameters
    ----------
    min_score : float
        Detections of the clean image scoring at least this are explained (when ``boxes`` is None).
    max_detections : int, optional
        Explain only the best-scoring ones.
    boxes : array or list of arrays, optional
        Explain these ``(T, 4)`` xyxy pixel boxes instead (a list of one array per image for a
        batch), with their ``labels``; each must be matched by the model on the clean image.
    labels : array or list of arrays, optional
        The ``(T,)`` classes of ``boxes``.
    probabilities : "softmax", "sigmoid", None or callable
        How a ``(logits, boxes)`` detector's logits become class probabilities.
    num_classes : int, optional
        The model's number of classes, to refuse a label it does not have (read from the
        outputs where they hold a class vector).
    """

    min_score: float = 0.5
    max_detections: int | None = None
    boxes: Any = None
    labels: Any = None
    probabilities: Any = "softmax"
    num_classes: int | None = None

    #: the similarity is scored as it is (in [0, 1]), not as a log-probability
    log_scores = False

    def __post_init__(self) -> None:
        if isinstance(self.min_score, bool) or not isinstance(self.min_score, (int, float)) \
                or not 0 <= self.min_score <= 1:
            raise fail("min_score", quoted(self.min_score), "a number in [0, 1]", "use e.g. min_score=0.5")
        if self.max_detections is not None and (isinstance(self.max_detections, bool)
                                                or not isinstance(self.max_detections, int)
                                                or self.max_detections < 1):
            raise fail("max_detections", quoted(self.max_detections), "a positive int or None",
                       "use e.g. max_detections=10")
        if (self.boxes is None) != (self.labels is None):
            raise fail("labels" if self.labels is None else "boxes", "None", "boxes and labels together",
                       "pass the class of each box as labels=[...] (or neither, to explain the model's detections)")
        check_probabilities(self.probabilities)

    def resolve(self, clean: Any, example: int, n_examples: int, image_size: tuple[int, int],
                channels_last: bool = False) -> DetectionTargets:
        """The detections of example ``example`` to explain, from the model's ``clean`` outputs on it."""
        found = parse_detections(clean, 1, self.probabilities)[0]
        check_pixel_boxes(found.boxes, image_size, "model output boxes", inside=False)
        n_classes = self.num_classes if found.class_probs is None else found.class_probs.shape[1]
        if self.boxes is None:
            keep = np.flatnonzero(found.scores >= self.min_score)
            if keep.size == 0:
                raise NoDetectionError(self.min_score, float(found.scores.max()) if found.scores.size else None)
            keep = keep[np.argsort(-found.scores[keep], kind="stable")][: self.max_detections]
            return DetectionTargets(found.boxes[keep], found.labels[keep], found.scores[keep], self.probabilities)
        boxes, labels = self._given(example, n_examples, image_size, n_classes)
        clean_similarity = drise_similarity(boxes, labels, found)
        unmatched = np.flatnonzero(clean_similarity <= 0)
        if unmatched.size:
            i = int(unmatched[0])
            raise fail("boxes", f"box {i} = {np.round(boxes[i], 2).tolist()} of class {int(labels[i])}",
                       "a box the model finds on the clean image (some overlap with a detection of its class)",
                       "explain the model's own detections (boxes=None) or check the box's class and position")
        return DetectionTargets(boxes, labels, clean_similarity, self.probabilities)

    def _given(self, example: int, n_examples: int, image_size: tuple[int, int],
               n_classes: int | None) -> tuple[np.ndarray, np.ndarray]:
        boxes, labels = self.boxes, self.labels
        if n_examples > 1:
            if not isinstance(boxes, (list, tuple)) or len(boxes) != n_examples \
                    or not isinstance(labels, (list, tuple)) or len(labels) != n_examples:
                raise fail("boxes", type(boxes).__name__, f"a list of {n_examples} box arrays, one per image",
                           "pass boxes=[boxes_of_image_0, ...] and labels=[labels_of_image_0, ...]")
            boxes, labels = boxes[example], labels[example]
        box = as_boxes(boxes, "boxes")
        check_box_order(box, "boxes")
        check_pixel_boxes(box, image_size, "boxes", inside=True)
        label = _host(labels, "labels").reshape(-1)
        if label.shape[0] != box.shape[0] or (label.size and label.dtype.kind not in "iu"):
            raise fail("labels", f"{label.shape[0]} labels of dtype {label.dtype} for {box.shape[0]} boxes",
                       "one integer class per box", "pass labels=[class_of_box_0, ...]")
        label = label.astype(np.int64)
        if label.size and (int(label.min()) < 0 or (n_classes is not None and int(label.max()) >= n_classes)):
            bad = int(label.min()) if int(label.min()) < 0 else int(label.max())
            have = f"0..{n_classes - 1}" if n_classes is not None else "non-negative"
            raise fail("labels", bad, f"a class the model has ({have})", "use the model's class indices")
        return box, label


@dataclasses.dataclass(frozen=True)
class DetectionTargets:
    """The detections of one image being explained, and their score on any batch of perturbed images.

    Attributes
    ----------
    boxes : numpy.ndarray
        ``(T, 4)`` xyxy pixel boxes.
    labels : numpy.ndarray
        ``(T,)`` their classes.
    scores : numpy.ndarray
        ``(T,)`` their clean-image scores (the model's score, or the similarity of given boxes).
    """

    boxes: np.ndarray
    labels: np.ndarray
    scores: np.ndarray
    probabilities: Any = "softmax"

    @property
    def n_targets(self) -> int:
        return int(self.boxes.shape[0])

    def score(self, outputs: Any, rows: int) -> np.ndarray:
        """``(rows, T)`` D-RISE similarities of the targets on a batch's outputs."""
        found = parse_detections(outputs, rows, self.probabilities)
        return np.stack([drise_similarity(self.boxes, self.labels, f) for f in found], axis=0)

    def describe(self) -> dict[str, np.ndarray]:
        return {"boxes": self.boxes, "labels": self.labels, "scores": self.scores}
