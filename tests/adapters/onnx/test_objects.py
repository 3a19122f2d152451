"""explain_detections / explain_segments on ONNX Runtime: named outputs of exported models give the
maps the PyTorch adapter gives on the same model (itself checked against the paper's loop)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from glas_adapters import onnx as glas_onnx  # noqa: E402
from glas_adapters import torch as glas_torch  # noqa: E402
from glas_core import GLASError  # noqa: E402

torch.set_num_threads(1)
SIZE, GRID = 16, 4


class BatchedDetector(torch.nn.Module):
    """Two fixed boxes scored by the brightness of an evidence window each; batched outputs."""

    def forward(self, x):
        e = torch.stack([x[:, :, 2:5, 2:5].mean(dim=(1, 2, 3)), x[:, :, 10:13, 10:13].mean(dim=(1, 2, 3))], 1)
        scores = torch.sigmoid(6 * e - 2)
        boxes = torch.tensor([[0., 0., 8., 8.], [6., 6., 16., 16.]]).expand(x.shape[0], 2, 4)
        labels = torch.zeros_like(scores, dtype=torch.int64) + torch.tensor([1, 1])
        return boxes, scores, labels


class PixelSegmenter(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 3, 1)
        with torch.no_grad():
            self.conv.weight.copy_(torch.tensor([[2., -1., .5], [-1., 3., 0.], [.5, .5, -2.]])[:, :, None, None])
            self.conv.bias.copy_(torch.tensor([0., -1., .5]))

    def forward(self, x):
        return self.conv(x)


def export(model, path, outputs):
    example = torch.zeros(2, 3, SIZE, SIZE)
    axes = {"pixels": {0: "batch"}, **{name: {0: "batch"} for name in outputs}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model.eval(), (example,), path, dynamo=False, input_names=["pixels"], output_names=outputs,
                          dynamic_axes=axes)
    return path


def scene():
    img = torch.rand(3, SIZE, SIZE, generator=torch.Generator().manual_seed(0)) * 0.2
    img[:, 2:5, 2:5] = 1.0
    img[:, 10:13, 10:13] = 0.8
    img[1, :8] += 1.0
    return img


def test_onnx_detections_equal_the_torch_adapters(tmp_path):
    path = export(BatchedDetector(), str(tmp_path / "det.onnx"), ["det_boxes", "det_scores", "det_classes"])
    names = {"boxes": "det_boxes", "scores": "det_scores", "labels": "det_classes"}

    def torchvision_style(x):
        boxes, scores, labels = BatchedDetector()(x)
        return [{"boxes": b, "scores": s, "labels": lab} for b, s, lab in zip(boxes, scores, labels)]

    img = scene()
    got = glas_onnx.explain_detections(path, img.numpy(), output_names=names, grid=GRID, sigma=1.0, batch_size=7)
    want = glas_torch.explain_detections(torchvision_style, img, grid=GRID, sigma=1.0)
    np.testing.assert_allclose(got.boxes, want.boxes)
    np.testing.assert_allclose(got.maps, want.maps.numpy(), rtol=1e-4, atol=1e-6 * float(want.maps.max()))
    # the two boxes overlap: each map still peaks in its own evidence window
    peaks = [divmod(int(m.argmax()), SIZE) for m in got.maps]
    assert max(peaks[0]) < 6 and min(peaks[1]) >= 8
    with pytest.raises(GLASError, match=r"output_names.*'det_scores'.*get_outputs"):
        glas_onnx.explain_detections(path, img.numpy(), output_names={"boxes": "det_boxes", "scores": "scores",
                                                                      "labels": "det_classes"}, grid=GRID)
    with pytest.raises(GLASError, match="output_names"):
        glas_onnx.explain_detections(path, img.numpy(), output_names={"boxes": "det_boxes"}, grid=GRID)


def test_onnx_segments_equal_the_torch_adapters(tmp_path):
    path = export(PixelSegmenter(), str(tmp_path / "seg.onnx"), ["logits"])
    img = scene()
    got = glas_onnx.explain_segments(path, img.numpy(), grid=GRID, sigma=1.0)
    want = glas_torch.explain_segments(PixelSegmenter(), img, grid=GRID, sigma=1.0)
    assert got.classes.tolist() == want.classes.tolist() and len(got.classes) >= 2
    np.testing.assert_array_equal(got.masks, want.masks)
    np.testing.assert_allclose(got.maps, want.maps.numpy(), rtol=1e-3, atol=1e-5 * float(want.maps.max()))
