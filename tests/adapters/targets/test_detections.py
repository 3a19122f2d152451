"""Detection targets: box overlap, D-RISE's similarity, the detector output forms, and refusals.

References are plain loops written here (IoU by the definition, the similarity as a max over
a Python loop), never the module's own functions.
"""

from __future__ import annotations

import numpy as np
import pytest

from glas_adapters.targets import (
    Detections,
    DetectionSet,
    NoDetectionError,
    box_iou,
    drise_similarity,
    parse_detections,
)
from glas_core import GLASError


def iou_by_hand(a, b):
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def test_box_iou_equals_the_definition_box_by_box():
    rng = np.random.default_rng(0)
    corners = rng.uniform(0, 50, size=(9, 2, 2))
    boxes = np.concatenate([corners.min(axis=1), corners.max(axis=1)], axis=1)
    boxes[0] = [10, 10, 10, 30]  # zero area: overlaps nothing
    got = box_iou(boxes[:4], boxes[4:])
    for i in range(4):
        for j in range(5):
            assert got[i, j] == pytest.approx(iou_by_hand(boxes[i], boxes[4 + j]), abs=1e-12)
    assert np.all(got[0] == 0)


def test_similarity_by_hand():
    # target box [0, 0, 10, 10] of class 1; candidates: the same box at 0.8, a half-shifted box at 1.0,
    # and the same box with another label at 0.99 (does not count)
    found = DetectionSet(np.array([[0, 0, 10, 10], [5, 0, 15, 10], [0, 0, 10, 10]], float),
                         np.array([0.8, 1.0, 0.99]), np.array([1, 1, 2]))
    got = drise_similarity(np.array([[0, 0, 10, 10.]]), np.array([1]), found)
    assert got == pytest.approx([max(1.0 * 0.8, (50 / 150) * 1.0)])
    # with a class-probability vector, every query's probability of class 1 counts
    probs = np.array([[0.1, 0.3, 0.6], [0.2, 0.7, 0.1], [0.0, 0.0, 1.0]])
    found = DetectionSet(found.boxes, probs.max(1), probs.argmax(1), probs)
    assert drise_similarity(np.array([[0, 0, 10, 10.]]), np.array([1]), found) == pytest.approx([0.3])
    empty = DetectionSet(np.zeros((0, 4)), np.zeros(0), np.zeros(0, np.int64))
    assert drise_similarity(np.array([[0, 0, 1, 1.]]), np.array([0]), empty).tolist() == [0.0]


def test_the_three_output_forms_read_alike():
    boxes = np.array([[[1, 2, 5, 6], [0, 0, 3, 3]], [[2, 2, 4, 4], [1, 1, 8, 8]]], float)
    logits = np.array([[[2.0, 0.0, -1.0], [0.0, 3.0, 0.0]], [[0.5, 0.5, 4.0], [1.0, 0.0, 0.0]]])
    probs = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    as_set = parse_detections((logits, boxes), 2)
    for i in range(2):
        np.testing.assert_allclose(as_set[i].class_probs, probs[i], rtol=1e-6)
        np.testing.assert_array_equal(as_set[i].labels, probs[i].argmax(-1))
    dicts = [{"boxes": boxes[i], "scores": probs[i].max(-1), "labels": probs[i].argmax(-1)} for i in range(2)]
    batched = {"boxes": boxes, "scores": probs.max(-1), "labels": probs.argmax(-1)}
    for form in (dicts, batched):
        sets = parse_detections(form, 2)
        for i in range(2):
            np.testing.assert_allclose(sets[i].boxes, boxes[i])
            np.testing.assert_allclose(sets[i].scores, probs[i].max(-1))
    objectness = np.array([[0.5, 1.0], [1.0, 0.25]])
    with_obj = parse_detections((logits, boxes, objectness), 2)
    np.testing.assert_allclose(with_obj[1].class_probs, probs[1] * objectness[1][:, None], rtol=1e-6)


@pytest.mark.parametrize(("outputs", "said"), [
    (np.zeros((1, 5)), "one array of shape (1, 5)"),
    ({"logits": np.zeros((1, 3, 4))}, "a dict with keys ['logits']"),
    ([{"boxes": np.zeros((1, 4)), "scores": np.ones(1)}], "keys ['boxes', 'scores']"),
    ([{"boxes": np.zeros((2, 4)), "scores": np.ones(1), "labels": np.ones(1)}], "2 boxes, 1 scores, 1 labels"),
    ([{"boxes": np.zeros((1, 4)), "scores": np.array([3.0]), "labels": np.ones(1)}], "scores in [3, 3]"),
    ([{"boxes": np.zeros((1, 4)), "scores": np.array([0.5]), "labels": np.array([0.5])}], "labels of dtype"),
])
def test_an_unreadable_detector_output_is_refused_naming_what_came(outputs, said):
    with pytest.raises(GLASError, match="model output") as err:
        parse_detections(outputs, 1)
    assert said in str(err.value)


def clean(boxes, scores, labels):
    return [{"boxes": np.asarray(boxes, float), "scores": np.asarray(scores, float), "labels": np.asarray(labels)}]


def test_min_score_and_max_detections_keep_the_best_in_score_order():
    out = clean([[0, 0, 4, 4], [4, 4, 9, 9], [1, 1, 5, 5]], [0.6, 0.9, 0.3], [1, 2, 1])
    got = Detections(min_score=0.5).resolve(out, 0, 1, (10, 10))
    assert got.scores.tolist() == [0.9, 0.6] and got.labels.tolist() == [2, 1]
    assert Detections(min_score=0.2, max_detections=1).resolve(out, 0, 1, (10, 10)).scores.tolist() == [0.9]
    with pytest.raises(NoDetectionError, match=r"min_score.*highest score was 0.9.*lower min_score") as err:
        Detections(min_score=0.95).resolve(out, 0, 1, (10, 10))
    assert err.value.best_score == pytest.approx(0.9) and isinstance(err.value, GLASError)
    with pytest.raises(NoDetectionError, match="found no box at all") as err:
        Detections().resolve(clean(np.zeros((0, 4)), [], []), 0, 1, (10, 10))
    assert err.value.best_score is None


def test_given_boxes_score_their_clean_match_and_bad_boxes_are_refused():
    out = clean([[0, 0, 40, 40]], [0.8], [3])
    got = Detections(boxes=[[0, 0, 40, 20]], labels=[3]).resolve(out, 0, 1, (64, 64))
    assert got.scores == pytest.approx([0.5 * 0.8])
    cases = [
        (dict(boxes=[[10, 10, 5, 30]], labels=[3]), "x2 < x1"),
        (dict(boxes=[[0, 0, 70, 20]], labels=[3]), "outside the 64x64 image"),
        (dict(boxes=[[0, 0, 0.5, 0.5]], labels=[3]), r"multiply normalised boxes by \(W, H, W, H\)"),
        (dict(boxes=[[0, 0, 40, 20]], labels=[-1]), "a class the model has"),
        (dict(boxes=[[50, 50, 60, 60]], labels=[3]), "a box the model finds on the clean image"),
        (dict(boxes=[[0, 0, 40, 20]], labels=[1.5]), "one integer class per box"),
        (dict(boxes=[[0, 0, 40]], labels=[1]), "boxes of shape"),
    ]
    for kwargs, said in cases:
        with pytest.raises(GLASError, match=said):
            Detections(**kwargs).resolve(out, 0, 1, (64, 64))
    with pytest.raises(GLASError, match=r"0\.\.2"):
        Detections(boxes=[[0, 0, 40, 20]], labels=[3]).resolve((np.zeros((1, 1, 3)), np.array([[[0, 0, 40, 40.]]])),
                                                               0, 1, (64, 64))
    with pytest.raises(GLASError, match="a list of 2 box arrays"):
        Detections(boxes=[[0, 0, 40, 20]], labels=[3]).resolve(out, 0, 2, (64, 64))


def test_a_detector_returning_normalised_boxes_is_refused():
    with pytest.raises(GLASError, match="model output boxes.*coordinates in"):
        Detections().resolve(clean([[0.1, 0.1, 0.5, 0.5]], [0.9], [0]), 0, 1, (64, 64))


@pytest.mark.parametrize(("kwargs", "said"), [
    (dict(min_score=1.5), "min_score"), (dict(max_detections=0), "max_detections"),
    (dict(boxes=[[0, 0, 1, 1]]), "labels"), (dict(probabilities="softplus"), "probabilities"),
])
def test_bad_settings_are_refused_before_any_forward_pass(kwargs, said):
    with pytest.raises(GLASError, match=said):
        Detections(**kwargs)
