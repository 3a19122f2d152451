"""Segmentation targets: a region's mean log-probability by a plain loop, the default regions, refusals."""

from __future__ import annotations

import math

import numpy as np
import pytest

from glas_adapters.targets import SegmentRegions
from glas_core import GLASError


def mean_log_probability_by_hand(logits, c, mask):
    """(1/|R|) sum over the region of log softmax_c, one pixel at a time."""
    total, count = 0.0, 0
    for i in range(mask.shape[0]):
        for j in range(mask.shape[1]):
            if mask[i, j]:
                z = logits[:, i, j]
                total += z[c] - math.log(sum(math.exp(v) for v in z))
                count += 1
    return total / count


def logits_with_two_regions(batch=1):
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(batch, 3, 6, 8))
    logits[:, 2, :3, :] += 6.0  # class 2 wins the top half
    logits[:, 1, 3:, :4] += 6.0  # class 1 the bottom-left quarter
    return logits


def test_default_regions_are_the_classes_the_model_wins_and_score_their_mean_log_probability():
    clean = logits_with_two_regions()
    targets = SegmentRegions().resolve(clean, 0, 1, (6, 8))
    predicted = clean[0].argmax(0)
    assert targets.classes.tolist() == sorted(set(predicted.ravel().tolist()))
    for c, m in zip(targets.classes, targets.masks):
        np.testing.assert_array_equal(m, predicted == c)
    batch = logits_with_two_regions(batch=3) + np.random.default_rng(2).normal(size=(3, 3, 6, 8))
    got = targets.score(batch, 3)
    for b in range(3):
        for t, (c, m) in enumerate(zip(targets.classes, targets.masks)):
            assert got[b, t] == pytest.approx(mean_log_probability_by_hand(batch[b], int(c), m), rel=1e-9)


def test_channels_last_logits_read_as_channels_first():
    clean = logits_with_two_regions()
    first = SegmentRegions(classes=[1, 2]).resolve(clean, 0, 1, (6, 8))
    last = SegmentRegions(classes=[1, 2]).resolve(np.transpose(clean, (0, 2, 3, 1)), 0, 1, (6, 8), channels_last=True)
    np.testing.assert_array_equal(first.masks, last.masks)
    np.testing.assert_allclose(last.score(np.transpose(clean, (0, 2, 3, 1)), 1), first.score(clean, 1))


def test_given_masks_are_scored_as_given():
    clean = logits_with_two_regions()
    mask = np.zeros((6, 8), bool)
    mask[0, 0] = mask[5, 7] = True
    targets = SegmentRegions(classes=[0], masks=mask[None]).resolve(clean, 0, 1, (6, 8))
    assert targets.score(clean, 1)[0, 0] == pytest.approx(mean_log_probability_by_hand(clean[0], 0, mask))


@pytest.mark.parametrize(("kwargs", "said"), [
    (dict(classes=[0]), r"classes the model finds on this image \(\[1, 2\]\)"),
    (dict(classes=[7]), r"a class the model has \(0\.\.2\)"),
    (dict(classes=[1], masks=np.ones((1, 12, 16), bool)), r"\(1, 6, 8\).*resize the masks"),
    (dict(classes=[1], masks=np.zeros((1, 6, 8), bool)), "mask 0 with no pixel set"),
    (dict(classes=[1], masks=np.full((1, 6, 8), 0.7)), "boolean masks"),
    (dict(classes=[1, 2], masks=np.ones((1, 6, 8), bool)), r"\(2, 6, 8\)"),
    (dict(classes=["cat"]), "int class indices"),
])
def test_bad_regions_are_refused(kwargs, said):
    clean = logits_with_two_regions()
    clean[:, 0] -= 10  # class 0 wins no pixel
    with pytest.raises(GLASError, match=said):
        SegmentRegions(**kwargs).resolve(clean, 0, 1, (6, 8))


def test_bad_settings_and_outputs_are_refused():
    with pytest.raises(GLASError, match="probabilities"):
        SegmentRegions(probabilities=None)
    with pytest.raises(GLASError, match="classes"):
        SegmentRegions(masks=np.ones((1, 2, 2), bool))
    with pytest.raises(GLASError, match=r"segmentation logits \(N, C, h, w\).*\.logits"):
        SegmentRegions().resolve(np.zeros((1, 5)), 0, 1, (6, 8))
    nan = logits_with_two_regions()
    nan[0, 0, 0, 0] = np.nan
    with pytest.raises(GLASError, match="NaN"):
        SegmentRegions().resolve(nan, 0, 1, (6, 8))
