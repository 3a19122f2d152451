"""explain_detections / explain_segments on PyTorch models, against the paper's Eq. 1-3 by a plain loop.

The references score each perturbed image by hand (D-RISE's similarity as a Python max over the
detections; a region's mean log-softmax pixel by pixel) and fuse by the loop of
tests/core/reference.py: nothing of the adapter's scoring or the core is reused.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from glas_adapters.targets import DetectionExplanation, SegmentExplanation  # noqa: E402
from glas_adapters.torch import explain_detections, explain_segments  # noqa: E402
from glas_core import GLASError  # noqa: E402
from tests.core.reference import reference_glas, reference_grid_points  # noqa: E402

torch.set_num_threads(1)
SIZE, GRID, SIGMA_PX = 16, 4, 3.0


class TwoBoxDetector(torch.nn.Module):
    """Two boxes, each scored by the brightness of a small evidence window inside it; a third box of
    class 0 moves with the image's mean, so matching picks the best overlap and the right class."""

    def __init__(self):
        super().__init__()
        self.gain = torch.nn.Parameter(torch.tensor(6.0))
        self.calls = 0

    def forward(self, x):
        self.calls += int(x.shape[0])
        out = []
        for img in x:
            e0, e1 = img[:, 2:5, 2:5].mean(), img[:, 10:13, 10:13].mean()
            scores = torch.sigmoid(torch.stack([e0, e1, img.mean()]) * self.gain - 2)
            shift = float(img.mean()) * 4
            boxes = torch.tensor([[0., 0., 8., 8.], [8., 8., 16., 16.], [shift, 0., 8. + shift, 8.]])
            out.append({"boxes": boxes, "scores": scores, "labels": torch.tensor([1, 1, 0])})
        return out


def scene():
    img = torch.zeros(3, SIZE, SIZE)
    img[:, 2:5, 2:5] = 1.0
    img[:, 10:13, 10:13] = 0.8
    return img


def similarity_by_hand(detector, target_box, target_label):
    def score_one(img):
        with torch.no_grad():
            found = detector(torch.as_tensor(img, dtype=torch.float32)[None])[0]
        best = 0.0
        for box, s, lab in zip(found["boxes"].tolist(), found["scores"].tolist(), found["labels"].tolist()):
            w = max(0.0, min(box[2], target_box[2]) - max(box[0], target_box[0]))
            h = max(0.0, min(box[3], target_box[3]) - max(box[1], target_box[1]))
            union = (box[2] - box[0]) * (box[3] - box[1]) + (target_box[2] - target_box[0]) * (
                target_box[3] - target_box[1]) - w * h
            best = max(best, w * h / union * (s if lab == target_label else 0.0))
        return np.array([best])
    return score_one


def test_every_detection_is_explained_in_one_sweep_as_the_paper_would():
    model, img = TwoBoxDetector().eval(), scene()
    before = img.clone()
    exp = explain_detections(model, img, min_score=0.5, grid=GRID, sigma_px=SIGMA_PX)
    assert isinstance(exp, DetectionExplanation)
    np.testing.assert_allclose(exp.boxes, [[0, 0, 8, 8], [8, 8, 16, 16]])
    assert exp.labels.tolist() == [1, 1] and exp.scores[0] > exp.scores[1] > 0.5
    assert tuple(exp.maps.shape) == (2, SIZE, SIZE) and isinstance(exp.maps, torch.Tensor)
    n_points = GRID * GRID
    assert exp.passes == 2 * n_points + 2 and model.calls == exp.passes
    points = reference_grid_points((SIZE, SIZE), (GRID, GRID))
    sig = (SIGMA_PX, SIGMA_PX)
    for t in range(2):
        ref = reference_glas(similarity_by_hand(model, exp.boxes[t].tolist(), 1), img.numpy(), points, sig, sig, sig)[0]
        assert float(ref.max() - ref.min()) > 1e-3 * float(ref.max())
        np.testing.assert_allclose(exp.maps[t].numpy(), ref[0], rtol=1e-4, atol=1e-7 * float(ref.max()))
    # each map peaks on its own evidence window
    peaks = [divmod(int(m.argmax()), SIZE) for m in exp.maps]
    assert 1 <= peaks[0][0] <= 5 and 1 <= peaks[0][1] <= 5 and 9 <= peaks[1][0] <= 13 and 9 <= peaks[1][1] <= 13
    assert torch.equal(img, before) and not model.training and model.gain.requires_grad


def test_a_batch_gives_one_explanation_per_image_and_given_boxes_are_explained():
    model = TwoBoxDetector().eval()
    batch = torch.stack([scene(), 0.9 * scene()])
    exps = explain_detections(model, batch, min_score=0.5, max_detections=1, grid=GRID, sigma_px=SIGMA_PX)
    assert isinstance(exps, list) and len(exps) == 2 and all(e.maps.shape == (1, SIZE, SIZE) for e in exps)
    given = explain_detections(model, scene(), boxes=[[8, 8, 16, 16]], labels=[1], grid=GRID, sigma_px=SIGMA_PX)
    full = explain_detections(model, scene(), grid=GRID, sigma_px=SIGMA_PX)
    torch.testing.assert_close(given.maps[0], full.maps[1])


def test_detection_refusals_name_the_fix():
    model = TwoBoxDetector().eval()
    with pytest.raises(GLASError, match="highest score was"):
        explain_detections(model, scene(), min_score=0.999, grid=GRID)
    with pytest.raises(GLASError, match=r"image.*\(C, H, W\)"):
        explain_detections(model, scene()[0], grid=GRID)
    with pytest.raises(GLASError, match="model output"):
        explain_detections(lambda x: x.mean(dim=(2, 3)), scene(), grid=GRID)


class HalfSegmenter(torch.nn.Module):
    """Class 1 wins where the image is bright, pushed by the brightness of the left half; class 2 elsewhere;
    class 0 never."""

    def forward(self, x):
        bright = x.mean(1, keepdim=True)
        left = x[:, :, :, : SIZE // 2].mean(dim=(1, 2, 3)).view(-1, 1, 1, 1)
        c1 = 4 * bright + 3 * left - 1
        return torch.cat([torch.zeros_like(c1), c1, -c1], 1)


def region_probability_by_hand(model, c, mask):
    def score_one(img):
        with torch.no_grad():
            z = model(torch.as_tensor(img, dtype=torch.float32)[None])[0].double().numpy()
        total = 0.0
        for i, j in zip(*np.nonzero(mask)):
            total += z[c, i, j] - math.log(sum(math.exp(v) for v in z[:, i, j]))
        return np.array([math.exp(total / mask.sum())])  # the geometric-mean probability
    return score_one


def test_every_region_is_explained_in_one_sweep_as_the_paper_would():
    model, img = HalfSegmenter(), scene()
    exp = explain_segments(model, img, grid=GRID, sigma_px=SIGMA_PX)
    assert isinstance(exp, SegmentExplanation)
    predicted = model(img[None])[0].argmax(0).numpy()
    assert exp.classes.tolist() == sorted(set(predicted.ravel().tolist())) == [1, 2]
    points = reference_grid_points((SIZE, SIZE), (GRID, GRID))
    sig = (SIGMA_PX, SIGMA_PX)
    for t, c in enumerate(exp.classes):
        np.testing.assert_array_equal(exp.masks[t], predicted == c)
        ref = reference_glas(region_probability_by_hand(model, int(c), exp.masks[t]), img.numpy(), points, sig, sig,
                             sig)[0][0]
        scale = math.exp(float(exp.result.log_scale[t]))
        np.testing.assert_allclose(exp.maps[t].numpy() * scale, ref, rtol=2e-4, atol=1e-6 * float(ref.max()))


def test_segment_refusals():
    with pytest.raises(GLASError, match=r"classes the model finds"):
        explain_segments(HalfSegmenter(), scene(), classes=[0], grid=GRID)
    with pytest.raises(GLASError, match="segmentation logits"):
        explain_segments(lambda x: x.mean(dim=(2, 3)), scene(), grid=GRID)
