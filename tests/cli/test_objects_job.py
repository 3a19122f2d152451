"""The job layer with a detector and a segmenter: one map and one manifest row per detection or region.

Tiny PyTorch models whose answers are known by construction (a detector with two fixed boxes
scored by the redness inside them, a segmenter whose class 1 is where the image is red) run
through :class:`glas_adapters.jobs.ImageExplainer` and :func:`glas_adapters.jobs.run_job`, and
the output folder is compared with the adapter called directly and with the boxes and regions
written here by hand.
"""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pd = pytest.importorskip("pandas")
pytest.importorskip("pyarrow")

from glas_core import GLASError  # noqa: E402

from .helpers import assert_maps_match, save_rgb  # noqa: E402

torch.set_num_threads(1)

#: the toy detector's two candidate boxes (x1, y1, x2, y2) and their labels
BOXES = np.array([[2.0, 2.0, 10.0, 10.0], [14.0, 12.0, 22.0, 20.0]])
LABELS = np.array([1, 2])
NAMES = ["background", "apple", "plum"]


class ToyDetector(torch.nn.Module):
    """Two fixed boxes; each box's score is sigmoid(12 * (redness inside it - gain)), its label fixed."""

    def __init__(self, gain: float = 0.3) -> None:
        super().__init__()
        self.gain = gain

    def forward(self, x):
        out = []
        red = x[:, 0] - 0.5 * (x[:, 1] + x[:, 2])
        for b in range(x.shape[0]):
            scores = torch.stack([torch.sigmoid(12.0 * (red[b, int(y1):int(y2), int(x1):int(x2)].mean() - self.gain))
                                  for x1, y1, x2, y2 in BOXES])
            out.append({"boxes": torch.as_tensor(BOXES, dtype=x.dtype), "scores": scores,
                        "labels": torch.as_tensor(LABELS)})
        return out


class ToySegmenter(torch.nn.Module):
    """Logits on a grid half the image's size: class 0 constant, class 1 redness, class 2 greenness."""

    def forward(self, x):
        pooled = torch.nn.functional.avg_pool2d(x, 2)
        red = pooled[:, 0] - 0.5 * (pooled[:, 1] + pooled[:, 2])
        green = pooled[:, 1] - 0.5 * (pooled[:, 0] + pooled[:, 2])
        return torch.stack([torch.full_like(red, 0.2), 6.0 * red, 6.0 * green], dim=1)


def scene(red_left: float = 0.9, red_right: float = 0.7) -> np.ndarray:
    """24 x 24 bluish grey with a red square in each box (their redness sets the detector's scores)."""
    img = np.full((24, 24, 3), 0.4)
    img[..., 2] = 0.45  # not grey: darkened, the background changes the segmenter's logits
    img[3:9, 3:9] = (red_left, 0.1, 0.1)
    img[13:19, 15:21] = (red_right, 0.1, 0.1)
    img[18:24, 0:6] = (0.1, 0.9, 0.1)  # green: the segmenter's class 2
    return np.round(img * 255) / 255


def _run(tmp_path, model, spec_kwargs, images):
    from glas_adapters.jobs import ImageExplainer, JobSpec, OutputFolder, find_images, local_outcomes, run_job

    folder = tmp_path / "photos"
    folder.mkdir(parents=True, exist_ok=True)
    for name, pixels in images.items():
        save_rgb(str(folder / name), pixels)
    items = find_images([str(folder)])
    spec = JobSpec(grid=4, batch_size=16, **spec_kwargs)
    out = OutputFolder(str(tmp_path / "out"), {"test": 1})
    explainer = ImageExplainer(model, spec)
    report = run_job(items, items, out, lambda todo: local_outcomes(explainer, todo, False), keep_going=False,
                     progress=False)
    return report, pd.read_parquet(tmp_path / "out" / "manifest.parquet"), items


def _detector(gain=0.3):
    from glas_adapters.jobs.models.objects import TorchObjectModel

    return TorchObjectModel(ToyDetector(gain).eval(), "detector", torch.device("cpu"), NAMES, "a toy detector")


def _segmenter():
    from glas_adapters.jobs.models.objects import TorchObjectModel

    return TorchObjectModel(ToySegmenter().eval(), "segmenter", torch.device("cpu"), NAMES, "a toy segmenter")


def test_one_row_and_one_map_per_detection(tmp_path):
    from glas_adapters.torch import explain_detections

    image = scene()
    report, manifest, items = _run(tmp_path, _detector(), {"figures": True, "keep_raw": True}, {"a.png": image})
    direct = explain_detections(ToyDetector().eval(), torch.as_tensor(np.moveaxis(image, -1, 0), dtype=torch.float32),
                                grid=4, batch_size=16)
    assert len(direct.boxes) == 2
    assert manifest["object"].tolist() == [0, 1]
    np.testing.assert_array_equal(manifest[["box_x1", "box_y1", "box_x2", "box_y2"]].to_numpy(), BOXES)
    assert manifest["target"].tolist() == [1, 2] and manifest["class_name"].tolist() == ["apple", "plum"]
    # the scores of the toy detector, computed here by hand
    red = image[..., 0] - 0.5 * (image[..., 1] + image[..., 2])
    by_hand = [1 / (1 + np.exp(-12 * (red[y1:y2, x1:x2].mean() - 0.3))) for x1, y1, x2, y2 in BOXES.astype(int)]
    np.testing.assert_allclose(manifest["clean_score"], by_hand, rtol=1e-5)
    assert manifest["region_pixels"].isna().all() and manifest["mask_key"].isna().all()
    assert manifest["n_forward"].tolist() == [33, 33] and report.forward_passes == 34  # 2 * 16 + 1, + the clean pass
    stored = np.load(tmp_path / "out" / manifest["map_file"][0])
    assert_maps_match(np.stack([stored[k] for k in manifest["map_key"]]).astype(np.float64),
                      direct.maps.numpy(), atol=1e-3)
    assert os.path.isfile(tmp_path / "out" / "figures" / f"{items[0].image_id}.png")
    raw = report.raw[0]
    np.testing.assert_array_equal(raw["boxes"], BOXES)
    assert list(raw["labels"]) == ["apple", "plum"] and raw["saliency"].shape == (2, 24, 24)
    # each detection's map is higher inside its own box than inside the other one
    inside = [[stored[key].astype(np.float64)[y1:y2, x1:x2].mean() for x1, y1, x2, y2 in BOXES.astype(int)]
              for key in manifest["map_key"]]
    assert inside[0][0] > inside[0][1] and inside[1][1] > inside[1][0]


def test_min_score_and_max_detections_choose_the_detections(tmp_path):
    image = scene(red_left=0.9, red_right=0.7)   # scores 0.858 and 0.611
    _, high, _ = _run(tmp_path / "a", _detector(), {"min_score": 0.7}, {"a.png": image})
    assert high["object"].tolist() == [0] and high["target"].tolist() == [1]
    _, best, _ = _run(tmp_path / "b", _detector(), {"max_detections": 1}, {"a.png": image})
    assert best["target"].tolist() == [1] and best["clean_score"].iloc[0] == pytest.approx(high["clean_score"].iloc[0])
    # the best first: make the right box the stronger one
    _, flipped, _ = _run(tmp_path / "c", _detector(), {"max_detections": 1}, {"a.png": scene(0.6, 0.95)})
    assert flipped["target"].tolist() == [2]
    np.testing.assert_array_equal(flipped[["box_x1", "box_y1", "box_x2", "box_y2"]].to_numpy(), BOXES[1:])


def test_no_detection_above_min_score_is_refused_with_the_best_score(tmp_path):
    image = scene(0.5, 0.45)
    red = image[..., 0] - 0.5 * (image[..., 1] + image[..., 2])
    best = max(1 / (1 + np.exp(-12 * (red[y1:y2, x1:x2].mean() - 0.3))) for x1, y1, x2, y2 in BOXES.astype(int))
    assert best < 0.9
    with pytest.raises(GLASError) as err:
        _run(tmp_path, _detector(), {"min_score": 0.9}, {"a.png": image})
    message = str(err.value)
    assert f"--min-score must be at most the highest detection score on this image, {best:.4g}, got 0.9" in message
    assert f"lower it (e.g. --min-score {np.floor(best * 100) / 100:.2f})" in message
    assert "a.png" in message


def test_one_row_map_and_mask_per_region(tmp_path):
    from glas_adapters.torch import explain_segments

    image = scene()
    report, manifest, _ = _run(tmp_path, _segmenter(), {"keep_raw": True, "figures": True}, {"a.png": image})
    direct = explain_segments(ToySegmenter().eval(), torch.as_tensor(np.moveaxis(image, -1, 0), dtype=torch.float32),
                              grid=4, batch_size=16)
    # the regions by hand: the argmax of the three logits on the 12 x 12 pooled grid
    pooled = image.reshape(12, 2, 12, 2, 3).mean(axis=(1, 3))
    red = pooled[..., 0] - 0.5 * (pooled[..., 1] + pooled[..., 2])
    green = pooled[..., 1] - 0.5 * (pooled[..., 0] + pooled[..., 2])
    winner = np.argmax(np.stack([np.full_like(red, 0.2), 6 * red, 6 * green]), axis=0)
    assert manifest["target"].tolist() == [0, 1, 2] == direct.classes.tolist()
    assert manifest["class_name"].tolist() == NAMES
    assert manifest["region_pixels"].tolist() == [int((winner == k).sum()) for k in range(3)]
    assert manifest[["box_x1", "box_y1", "box_x2", "box_y2"]].isna().all().all()
    stored = np.load(tmp_path / "out" / manifest["map_file"][0])
    for t, key in enumerate(manifest["mask_key"]):
        np.testing.assert_array_equal(stored[key].astype(bool), winner == t)
    assert_maps_match(np.stack([stored[k] for k in manifest["map_key"]]).astype(np.float64), direct.maps.numpy(),
                      atol=1e-3)
    # the clean score: the region's geometric-mean probability of its class, by hand
    logits = np.stack([np.full_like(red, 0.2), 6 * red, 6 * green])
    logp = logits - np.log(np.exp(logits).sum(axis=0))
    np.testing.assert_allclose(manifest["clean_score"], [np.exp(logp[k][winner == k].mean()) for k in range(3)],
                               rtol=1e-4)
    np.testing.assert_array_equal(report.raw[0]["masks"], direct.masks)
    record = json.loads((tmp_path / "out" / "records" / f"{manifest['image_id'][0]}.json").read_text())
    assert record["figures"] == [f"{manifest['image_id'][0]}.png"]


def test_detector_refuses_several_scales_and_classifier_options():
    from glas_adapters.jobs import JobSpec
    from glas_adapters.jobs.objects import check_object_options

    with pytest.raises(GLASError, match="one --sigma value and no --recursive for a detector"):
        _detector().explain(scene(), JobSpec(sigmas=(5.0, 3.0)))
    with pytest.raises(GLASError, match="--target/--top-k/--targets-csv must be used with classifiers, got a detector"):
        check_object_options("detector", targets=True, cohort=False, min_score=False, max_detections=False)
    with pytest.raises(GLASError, match="--min-score/--max-detections must be used with detectors, got a segmenter"):
        check_object_options("segmenter", targets=False, cohort=False, min_score=True, max_detections=False)
    with pytest.raises(GLASError, match="--cohort must be used with classifiers"):
        check_object_options("segmenter", targets=False, cohort=True, min_score=False, max_detections=False)
