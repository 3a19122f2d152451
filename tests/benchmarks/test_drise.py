"""D-RISE (``benchmarks/benchkit/drise.py``) against a direct reference written from the paper.

Petsiuk et al., "Black-box Explanation of Object Detectors via Saliency Maps", CVPR 2021:
for a detection d, mask i weighs ``w_i = max_j sim(d, D(I * M_i)_j)`` and the saliency is
``S_d = sum_i w_i M_i / N``, with ``sim = IoU(box_d, box_j) * score_j`` when the labels agree and
0 otherwise. The reference takes the random draws (grids and shifts) from
:class:`benchkit.rise.RiseMasks` and does the rest one mask, one detection and one box at a
time; each mask is rebuilt pixel by pixel by ``test_rise``'s reference (itself checked against
torch's bilinear interpolation). The hand-checked cases need no reference at all.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from benchkit.drise import drise, similarity  # noqa: E402
from benchkit.rise import RiseMasks  # noqa: E402

from .test_rise import _reference_mask  # noqa: E402

SHAPE = (3, 10, 13)  # (C, H, W): unequal sides, so a transposed axis shows


def _plain_iou(a, b) -> float:
    """IoU of two xyxy boxes, written out."""
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    inter = max(w, 0.0) * max(h, 0.0)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union


def _plain_similarity(box, label, found) -> float:
    """max_j IoU(box, box_j) * score_j [label_j == label], 0 without detections."""
    best = 0.0
    for b, s, lab in zip(found["boxes"].tolist(), found["scores"].tolist(), found["labels"].tolist()):
        best = max(best, _plain_iou(box, b) * (s if lab == label else 0.0))
    return best


def _toy_detector(batch):
    """Detections that move and fade with the image: up to three boxes, none on a dark image.

    Box 0 (label 0) sits still and scores the mean of a 2 x 3 patch; box 1 (label 1) slides right
    with the mean of channel 1; box 2 (label 0) appears only where the left half is bright.
    """
    out = []
    for img in batch:
        patch = float(img[0, 2:4, 3:6].mean())
        shift = 4.0 * float(img[1].mean())
        left = float(img[:, :, :6].mean())
        boxes, scores, labels = [], [], []
        if float(img.mean()) > 0.05:
            boxes.append([2.0, 1.0, 8.0, 6.0]), scores.append(patch), labels.append(0)
            boxes.append([1.0 + shift, 4.0, 7.0 + shift, 9.5])
            scores.append(0.9 * float(img[1].mean())), labels.append(1)
            if left > 0.3:
                boxes.append([0.0, 0.0, 6.0, 5.0]), scores.append(left), labels.append(0)
        out.append({"boxes": torch.tensor(boxes, dtype=batch.dtype).reshape(-1, 4),
                    "scores": torch.tensor(scores, dtype=batch.dtype),
                    "labels": torch.tensor(labels, dtype=torch.int64)})
    return out


def _reference_drise(x: np.ndarray, boxes, labels, masks: RiseMasks) -> np.ndarray:
    """sum_i w_i M_i / N, one mask and one detector call at a time: (T, H, W)."""
    total = np.zeros((len(labels), masks.h, masks.w))
    for i in range(masks.n_masks):
        mask = _reference_mask(masks, i)
        (found,) = _toy_detector(torch.from_numpy((x * mask).astype(np.float64))[None])
        for t, (box, label) in enumerate(zip(boxes, labels)):
            total[t] += _plain_similarity(box, label, found) * mask
    return total / masks.n_masks


@pytest.fixture
def image() -> np.ndarray:
    return np.random.default_rng(3).random(SHAPE)


TARGETS = ([[2.0, 1.0, 8.0, 6.0], [3.0, 4.0, 9.0, 9.5], [0.5, 0.0, 6.0, 5.0]], [0, 1, 0])


@pytest.mark.parametrize("batch_size", [1, 4, 64])
def test_drise_matches_the_direct_reference(image, batch_size):
    n_masks, s, p, seed = 14, 3, 0.5, 2
    boxes, labels = TARGETS
    got = drise(_toy_detector, torch.from_numpy(image), boxes, labels, n_masks=n_masks, s=s, p=p,
                batch_size=batch_size, seed=seed)
    expected = _reference_drise(image, boxes, labels, RiseMasks(n_masks, SHAPE[1:], s=s, p=p, seed=seed))
    assert got.shape == (3, *SHAPE[1:])
    assert np.ptp(expected, axis=(1, 2)).min() > 0  # the toy detector reacts to every mask set
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-9)


def test_similarity_matches_plain_loops():
    rng = np.random.default_rng(0)
    targets = torch.tensor([[1.0, 1.0, 5.0, 6.0], [0.0, 3.0, 4.0, 8.0], [2.0, 2.0, 3.0, 3.0]], dtype=torch.float64)
    labels = torch.tensor([0, 2, 1])
    found = []
    for m in (0, 1, 4, 7):  # an image with no detection, one, several
        xy = rng.uniform(0, 6, (m, 2))
        wh = rng.uniform(0.5, 5, (m, 2))
        found.append({"boxes": torch.from_numpy(np.concatenate([xy, xy + wh], 1)),
                      "scores": torch.from_numpy(rng.random(m)), "labels": torch.from_numpy(rng.integers(0, 3, m))})
    got = similarity(targets, labels, found).numpy()
    expected = [[_plain_similarity(b, lab, f) for b, lab in zip(targets.tolist(), labels.tolist())] for f in found]
    assert got.shape == (4, 3)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=0)
    assert (got[0] == 0).all() and (got[1:] > 0).any()


def test_similarity_with_no_detection_anywhere_is_zero():
    empty = {"boxes": torch.zeros(0, 4), "scores": torch.zeros(0), "labels": torch.zeros(0, dtype=torch.int64)}
    got = similarity(torch.tensor([[0.0, 0.0, 2.0, 2.0]]), torch.tensor([1]), [empty, empty])
    assert got.shape == (2, 1) and float(got.abs().max()) == 0.0


def _fixed_detector(batch):
    """One box (0, 0, 4, 4) of label 0 scoring 0.8 on every image."""
    return [{"boxes": torch.tensor([[0.0, 0.0, 4.0, 4.0]]), "scores": torch.tensor([0.8]),
             "labels": torch.tensor([0])} for _ in batch]


def test_hand_checked_all_kept_masks():
    """p = 1 keeps every cell, so every mask is 1 and S_d = sim(d) = IoU * score everywhere:
    (0, 0, 4, 2) has IoU 8 / 16 with the detector's box (0.5 * 0.8 = 0.4), the box itself 0.8,
    a box of another label 0."""
    x = torch.ones(3, 6, 7)
    got = drise(_fixed_detector, x, [[0.0, 0.0, 4.0, 2.0], [0.0, 0.0, 4.0, 4.0], [0.0, 0.0, 4.0, 4.0]], [0, 0, 1],
                n_masks=5, s=2, p=1.0, batch_size=2)
    np.testing.assert_allclose(got[0], 0.4, rtol=1e-6)
    np.testing.assert_allclose(got[1], 0.8, rtol=1e-6)
    np.testing.assert_array_equal(got[2], 0.0)


def test_hand_checked_detector_that_sees_one_region():
    """A detector whose only score is the mean of pixels [10:13, 3:6] of a 16 x 16 image of ones:
    ``w_i`` is the mask's mean there, so S(x) estimates E[w M(x)]. Far from the region, M(x) is
    built from other grid cells than w, so E[w M(x)] = E[w] E[M(x)] = p * p = 0.25 (bilinear
    interpolation keeps the mean p); in the region M(x) and w share their cells and the value is
    larger. 3000 masks: the standard error is about 0.005."""
    def one_region(batch):
        return [{"boxes": torch.tensor([[0.0, 0.0, 8.0, 8.0]]), "scores": img[0, 10:13, 3:6].mean()[None],
                 "labels": torch.tensor([0])} for img in batch]

    got = drise(one_region, torch.ones(3, 16, 16), [[0.0, 0.0, 8.0, 8.0]], [0], n_masks=3000, s=4, p=0.5, seed=1)[0]
    row, col = np.unravel_index(np.argmax(got), got.shape)
    assert 8 <= row <= 14 and 1 <= col <= 7, (row, col)
    assert abs(got[2, 13] - 0.25) < 0.02  # the far corner: p ** 2
    assert got[11, 4] > 0.3
