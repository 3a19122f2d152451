"""explain_segments / explain_detections on Keras: channels-last logits and named detector outputs,
against the paper's Eq. 1-3 by the plain loop of tests/core/reference.py."""

from __future__ import annotations

import math

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from glas_adapters import tf as glas_tf  # noqa: E402
from glas_core import GLASError  # noqa: E402
from tests.core.reference import reference_glas, reference_grid_points  # noqa: E402

SIZE, GRID, SIGMA_PX = 12, 3, 3.0
WEIGHTS = np.array([[2.0, -1.0, 0.5], [-1.0, 3.0, 0.0], [0.5, 0.5, -2.0]], np.float32)  # (C_in, classes)
BIAS = np.array([0.0, -1.0, 0.5], np.float32)


def pixel_classifier():
    """A 1x1 convolution: per-pixel logits ``x @ WEIGHTS + BIAS``, channels-last."""
    inputs = keras.Input((SIZE, SIZE, 3))
    layer = keras.layers.Conv2D(3, 1)
    model = keras.Model(inputs, layer(inputs))
    layer.set_weights([WEIGHTS[None, None], BIAS])
    return model


def image():
    rng = np.random.default_rng(3)
    img = rng.uniform(0, 1, (SIZE, SIZE, 3)).astype(np.float32)
    img[:6, :, 1] += 1.5
    return img


def test_keras_segments_equal_the_paper_loop():
    img = image()
    exp = glas_tf.explain_segments(pixel_classifier(), img, grid=GRID, sigma_px=SIGMA_PX)
    logits = img @ WEIGHTS + BIAS
    predicted = logits.argmax(-1)
    assert exp.classes.tolist() == sorted(set(predicted.ravel().tolist()))
    points = reference_grid_points((SIZE, SIZE), (GRID, GRID))
    sig = (SIGMA_PX, SIGMA_PX)
    chw = np.transpose(img, (2, 0, 1)).astype(np.float64)
    for t, c in enumerate(exp.classes):
        mask = predicted == c
        np.testing.assert_array_equal(exp.masks[t], mask)

        def score_one(x, c=int(c), mask=mask):
            z = np.transpose(x, (1, 2, 0)) @ WEIGHTS.astype(np.float64) + BIAS
            total = sum(z[i, j, c] - math.log(sum(math.exp(v) for v in z[i, j])) for i, j in zip(*np.nonzero(mask)))
            return np.array([math.exp(total / mask.sum())])

        ref = reference_glas(score_one, chw, points, sig, sig, sig)[0][0]
        got = np.asarray(exp.maps[t]) * math.exp(float(exp.result.log_scale[t]))
        np.testing.assert_allclose(got, ref, rtol=2e-3, atol=1e-5 * float(ref.max()))


def named_detector(batch):
    """Two boxes scored by the brightness of their top-left corner window, as batched named outputs."""
    x = np.asarray(batch)
    e0, e1 = x[:, 1:4, 1:4].mean(axis=(1, 2, 3)), x[:, 7:10, 7:10].mean(axis=(1, 2, 3))
    scores = 1 / (1 + np.exp(-(np.stack([e0, e1], 1) * 5 - 1)))
    boxes = np.broadcast_to(np.array([[0, 0, 6, 6], [6, 6, 12, 12]], np.float32), (x.shape[0], 2, 4))
    return {"boxes": boxes, "scores": scores, "labels": np.zeros((x.shape[0], 2), np.int64)}


def test_keras_named_detector_outputs_equal_the_paper_loop():
    img = image()
    exp = glas_tf.explain_detections(named_detector, img, min_score=0.0, grid=GRID, sigma_px=SIGMA_PX)
    assert exp.maps.shape == (2, SIZE, SIZE) and exp.labels.tolist() == [0, 0]
    points = reference_grid_points((SIZE, SIZE), (GRID, GRID))
    sig = (SIGMA_PX, SIGMA_PX)
    for t in range(2):
        def score_one(x, t=t):
            # the box matches only itself (the other box does not overlap): similarity = its own score
            return named_detector(np.transpose(x, (1, 2, 0))[None])["scores"][0, t:t + 1]

        ref = reference_glas(score_one, np.transpose(img, (2, 0, 1)).astype(np.float64), points, sig, sig, sig)[0][0]
        np.testing.assert_allclose(np.asarray(exp.maps[t]), ref, rtol=1e-4, atol=1e-7 * float(ref.max()))


def test_keras_refusals():
    with pytest.raises(GLASError, match=r"\(N, h, w, C\)"):
        glas_tf.explain_segments(lambda b: np.asarray(b).mean(axis=(1, 2)), image(), grid=GRID)
    with pytest.raises(GLASError, match="highest score was"):
        glas_tf.explain_detections(named_detector, image(), min_score=0.999, grid=GRID)
