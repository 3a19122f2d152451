"""The detection benchmark's pieces: scenes' ground truth, the detector's NMS and decoding, and AP.

The NMS is checked against a plain greedy loop (torchvision's class-wise rule), AP against
hand-computed precision-recall cases, the scenes against their own masks.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from benchkit import dense_models as D  # noqa: E402
from benchkit.scenes import CLASS_NAMES, make_scenes  # noqa: E402


@pytest.mark.parametrize("kind", ["mixed", "pair"])
def test_scenes_ground_truth_agrees_with_itself(kind):
    scenes = make_scenes(12, 4, kind=kind)
    for sc in scenes:
        n = len(sc.labels)
        assert sc.image.shape == (3, 64, 64) and sc.image.dtype == np.float32
        assert 0.0 <= sc.image.min() and sc.image.max() <= 1.0
        assert (1 <= n <= 3) if kind == "mixed" else (n == 2 and sc.labels[0] == sc.labels[1])
        for box, obj, marker, label in zip(sc.boxes, sc.object_masks, sc.marker_masks, sc.labels):
            ys, xs = np.nonzero(obj)
            assert tuple(box) == (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)  # half-open box of the object
            assert marker.sum() >= 12 and not (marker & ~obj).any()  # the marker lies inside its object
            colour = sc.image[:, marker].mean(1)
            assert int(np.argmax(colour)) == [0, 1, 2][label]  # red, green, blue
            assert (sc.segmentation[obj] == label + 1).all()
        assert not np.logical_and(*sc.object_masks[:2]).any() if n > 1 else True
        assert ((sc.segmentation > 0) == sc.object_masks.any(0)).all()
    assert make_scenes(3, 4, kind=kind)[2].image.tobytes() == scenes[2].image.tobytes()  # seeded


def _plain_nms(boxes, scores, labels, valid, threshold):
    """Greedy NMS, one box at a time, highest score first, only within a label."""
    kept = []
    for i in np.argsort(-scores, kind="stable"):
        if not valid[i]:
            continue
        if all(labels[j] != labels[i] or _iou(boxes[i], boxes[j]) <= threshold for j in kept):
            kept.append(i)
    return sorted(kept)


def _iou(a, b):
    w = max(min(a[2], b[2]) - max(a[0], b[0]), 0.0)
    h = max(min(a[3], b[3]) - max(a[1], b[1]), 0.0)
    inter = w * h
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def test_nms_matches_a_plain_greedy_loop():
    rng = np.random.default_rng(1)
    b, k = 6, 9
    xy = rng.uniform(0, 10, (b, k, 2))
    boxes = np.concatenate([xy, xy + rng.uniform(3, 8, (b, k, 2))], -1)
    scores = -np.sort(-rng.random((b, k)), axis=1)  # sorted, as the detector hands them over
    labels = rng.integers(0, 2, (b, k))
    valid = scores > 0.2
    got = D.batched_nms_mask(torch.from_numpy(boxes), torch.from_numpy(scores), torch.from_numpy(labels),
                             torch.from_numpy(valid), 0.3).numpy()
    for i in range(b):
        assert list(np.nonzero(got[i])[0]) == _plain_nms(boxes[i], scores[i], labels[i], valid[i], 0.3)
    assert got.sum() < valid.sum()  # something was suppressed


def test_detector_returns_torchvision_style_detections():
    torch.manual_seed(0)
    det = D.build_detector(width=8, score_threshold=0.0).eval()
    x = torch.from_numpy(np.stack([s.image for s in make_scenes(3, 0)]))
    out = det(x)
    assert len(out) == 3
    for d in out:
        assert set(d) == {"boxes", "scores", "labels"}
        m = len(d["scores"])
        assert d["boxes"].shape == (m, 4) and d["labels"].dtype == torch.int64 and 0 < m <= det.top_k
        assert ((d["scores"] >= 0) & (d["scores"] <= 1)).all()
        assert (d["labels"] < len(CLASS_NAMES)).all()
        assert (d["boxes"][:, 2] > d["boxes"][:, 0]).all() and (d["boxes"][:, 3] > d["boxes"][:, 1]).all()
    assert out[0]["scores"].requires_grad  # gradient peers back-propagate through the scores


def test_average_precision_hand_cases():
    scenes = [make_scenes(1, seed, kind="pair")[0] for seed in (0, 5)]  # two objects of class 0 in each
    label = 0
    assert [s.labels.tolist() for s in scenes] == [[0, 0], [0, 0]]
    perfect = [{"boxes": s.boxes.astype(float), "scores": np.array([0.9, 0.8]), "labels": s.labels} for s in scenes]
    assert D.average_precision(perfect, scenes, label) == pytest.approx(1.0)
    # scene 0: one right box at 0.9 and a wrong one (no overlap) at 0.95; scene 1: nothing.
    # Ranked: FP (0.95), TP (0.9): recall 1/4 at precision 1/2, never more -> AP 1/8
    far = np.array([[60.0, 60.0, 61.0, 61.0]])
    one = [{"boxes": np.concatenate([far, scenes[0].boxes[:1]]).astype(float), "scores": np.array([0.95, 0.9]),
            "labels": np.array([label, label])},
           {"boxes": np.zeros((0, 4)), "scores": np.zeros(0), "labels": np.zeros(0, np.int64)}]
    assert D.average_precision(one, scenes[:2], label) == pytest.approx(1 / 8)
    # the same box twice: the duplicate is a false positive
    dup = [{"boxes": np.repeat(s.boxes[:1], 2, 0).astype(float), "scores": np.array([0.9, 0.8]),
            "labels": np.array([label, label])} for s in scenes]
    assert D.average_precision(dup, scenes, label) == pytest.approx(0.5 * 1.0)  # recall 1/2 at precision 1
