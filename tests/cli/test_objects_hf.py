"""``glas explain --model DIR`` on a HuggingFace detector (DETR) and semantic segmenter (SegFormer).

Tiny models are built from configs and saved with ``save_pretrained`` (nothing downloaded).
The command's manifest, maps and masks are compared with :func:`glas_adapters.hf.explain_detections`
/ :func:`~glas_adapters.hf.explain_segments` called directly on the same model and image: this
checks the task detection, the loading, the rows, the flags and the file layout, not the
adapter's math (tests/adapters/hf's job).
"""

from __future__ import annotations

import os

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
pytest.importorskip("matplotlib")
pd = pytest.importorskip("pandas")

from .helpers import assert_maps_match, files_under, run_glas, save_rgb  # noqa: E402

torch.set_num_threads(1)
BOX = ["box_x1", "box_y1", "box_x2", "box_y2"]
NAMES = {0: "cat", 1: "dog", 2: "cow"}


def _labels():
    return dict(num_labels=3, id2label=dict(NAMES), label2id={v: k for k, v in NAMES.items()})


@pytest.fixture(scope="module")
def detr(tmp_path_factory):
    """A tiny DETR (ResNet backbone from a config, no timm) whose queries score differently, saved to a folder."""
    backbone = transformers.ResNetConfig(num_channels=3, embedding_size=8, hidden_sizes=[8, 16], depths=[1, 1],
                                         layer_type="basic", out_features=["stage1", "stage2"])
    config = transformers.DetrConfig(use_timm_backbone=False, backbone_config=backbone, d_model=16, encoder_layers=1,
                                     decoder_layers=1, encoder_attention_heads=2, decoder_attention_heads=2,
                                     encoder_ffn_dim=16, decoder_ffn_dim=16, num_queries=6, **_labels())
    torch.manual_seed(0)
    model = transformers.DetrForObjectDetection(config).eval()
    with torch.no_grad():  # spread the queries' scores (an untrained DETR gives every query the same one)
        model.model.query_position_embeddings.weight.normal_(0, 3.0)
        for layer in model.model.decoder.layers:
            layer.encoder_attn.q_proj.weight.mul_(10)
            layer.encoder_attn.k_proj.weight.mul_(10)
        model.class_labels_classifier.weight.mul_(20)
    folder = tmp_path_factory.mktemp("detr")
    model.save_pretrained(folder)
    transformers.DetrImageProcessorPil(size={"shortest_edge": 48, "longest_edge": 64}).save_pretrained(folder)
    return str(folder)


@pytest.fixture(scope="module")
def segformer(tmp_path_factory):
    config = transformers.SegformerConfig(num_channels=3, num_encoder_blocks=2, depths=[1, 1], sr_ratios=[2, 1],
                                          hidden_sizes=[8, 16], patch_sizes=[7, 3], strides=[4, 2],
                                          num_attention_heads=[1, 2], mlp_ratios=[2, 2], decoder_hidden_size=16,
                                          **_labels())
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("segformer")
    transformers.SegformerForSemanticSegmentation(config).eval().save_pretrained(folder)
    transformers.SegformerImageProcessorPil(size={"height": 32, "width": 32}).save_pretrained(folder)
    return str(folder)


@pytest.fixture()
def picture(tmp_path):
    rng = np.random.default_rng(3)
    folder = tmp_path / "photos"
    folder.mkdir()
    return save_rgb(str(folder / "pic.png"), np.round(rng.random((37, 53, 3)) * 255) / 255)


def _pixels(path):
    from PIL import Image

    return np.array(Image.open(path).convert("RGB"))  # a writable copy


def _direct_detections(folder, picture, **kwargs):
    from glas_adapters.hf import explain_detections

    model = transformers.AutoModelForObjectDetection.from_pretrained(folder, local_files_only=True).eval()
    processor = transformers.AutoImageProcessor.from_pretrained(folder, local_files_only=True)
    return explain_detections(model, processor, _pixels(picture), grid=3, **kwargs)


def _explain(capsys, picture, folder, out, *flags):
    return run_glas(capsys, "explain", picture, "--model", folder, "--grid", "3", "--out", str(out), "--quiet",
                    "--device", "cpu", *flags)


def test_detector_writes_one_row_and_map_per_detection(tmp_path, capsys, detr, picture):
    out, saved = tmp_path / "out", tmp_path / "maps.npz"
    run = _explain(capsys, picture, detr, out, "--min-score", "0.3", "--save-maps", str(saved), "--figures")
    assert run.code == 0, run.err
    direct = _direct_detections(detr, picture, min_score=0.3)
    assert len(direct.boxes) >= 3 and len(set(np.round(direct.scores, 3))) == len(direct.scores)
    manifest = pd.read_parquet(out / "manifest.parquet")
    assert manifest["object"].tolist() == list(range(len(direct.boxes)))
    np.testing.assert_array_equal(manifest[BOX].to_numpy(), direct.boxes)
    assert manifest["target"].tolist() == direct.labels.tolist()
    assert manifest["class_name"].tolist() == [NAMES[int(k)] for k in direct.labels]
    np.testing.assert_allclose(manifest["clean_score"], direct.scores, rtol=1e-6)
    assert (manifest["height"].tolist(), manifest["width"].tolist()) == ([37] * len(manifest), [53] * len(manifest))
    assert manifest["n_forward"].tolist() == [2 * 9 + 1] * len(manifest)   # the sweep of a 3 x 3 grid
    assert f"({direct.passes} forward passes)" in run.out
    stored = np.load(out / manifest["map_file"][0])
    assert_maps_match(np.stack([stored[k] for k in manifest["map_key"]]).astype(np.float64),
                      direct.maps.numpy(), atol=1e-3)
    raw = np.load(saved)
    np.testing.assert_array_equal(raw["boxes_0"], direct.boxes)
    assert_maps_match(raw["saliency_0"], direct.maps.numpy())
    assert [f for f in files_under(str(out)) if f.startswith("figures/")] == [f"figures/{manifest['image_id'][0]}.png"]


def test_min_score_and_max_detections_flags(tmp_path, capsys, detr, picture):
    everything = _direct_detections(detr, picture, min_score=0.0)
    scores = np.sort(everything.scores)[::-1]
    threshold = float((scores[1] + scores[2]) / 2)   # between the second and third best: two detections
    run = _explain(capsys, picture, detr, tmp_path / "a", "--min-score", f"{threshold:.6f}")
    assert run.code == 0, run.err
    two = pd.read_parquet(tmp_path / "a" / "manifest.parquet")
    np.testing.assert_allclose(two["clean_score"], scores[:2], rtol=1e-6)
    run = _explain(capsys, picture, detr, tmp_path / "b", "--min-score", "0", "--max-detections", "3")
    assert run.code == 0, run.err
    three = pd.read_parquet(tmp_path / "b" / "manifest.parquet")
    np.testing.assert_allclose(three["clean_score"], scores[:3], rtol=1e-6)
    best = np.argsort(-everything.scores, kind="stable")[:3]
    np.testing.assert_array_equal(three[BOX].to_numpy(), everything.boxes[best])


def test_no_detection_above_min_score_is_one_line_naming_the_best_score(tmp_path, capsys, detr, picture):
    best = float(_direct_detections(detr, picture, min_score=0.0).scores.max())
    assert best < 0.99
    run = _explain(capsys, picture, detr, tmp_path / "out", "--min-score", "0.99")
    assert run.code == 2 and "Traceback" not in run.err
    errors = [line for line in run.err.splitlines() if line.startswith("glas: error: ")]
    assert len(errors) == 1, run.err
    assert f"--min-score must be at most the highest detection score on this image, {best:.4g}, got 0.99" in errors[0]
    assert f"lower it (e.g. --min-score {np.floor(best * 100) / 100:.2f})" in errors[0] and "pic.png" in errors[0]
    assert not [f for f in files_under(str(tmp_path / "out")) if f.startswith("maps/")]


def test_a_rerun_resumes_and_other_detector_settings_are_refused(tmp_path, capsys, detr, picture):
    out = tmp_path / "out"
    assert _explain(capsys, picture, detr, out, "--min-score", "0.3").code == 0
    first = pd.read_parquet(out / "manifest.parquet")
    again = _explain(capsys, picture, detr, out, "--min-score", "0.3")
    assert again.code == 0 and "1 finished by an earlier run" in again.out and "(0 forward passes)" in again.out
    pd.testing.assert_frame_equal(pd.read_parquet(out / "manifest.parquet"), first)
    other = _explain(capsys, picture, detr, out, "--min-score", "0.4")
    assert other.code == 2 and "min_score differ" in other.err
    assert os.path.isfile(picture)


def test_segmenter_writes_one_row_map_and_mask_per_region(tmp_path, capsys, segformer, picture):
    from glas_adapters.hf import explain_segments

    out = tmp_path / "out"
    run = _explain(capsys, picture, segformer, out, "--figures")
    assert run.code == 0, run.err
    model = transformers.AutoModelForSemanticSegmentation.from_pretrained(segformer, local_files_only=True).eval()
    processor = transformers.AutoImageProcessor.from_pretrained(segformer, local_files_only=True)
    direct = explain_segments(model, processor, _pixels(picture), grid=3)
    manifest = pd.read_parquet(out / "manifest.parquet")
    assert manifest["target"].tolist() == direct.classes.tolist() and len(direct.classes) >= 2
    assert manifest["class_name"].tolist() == [NAMES[int(k)] for k in direct.classes]
    assert manifest["region_pixels"].tolist() == [int(m.sum()) for m in direct.masks]
    assert manifest[BOX].isna().all().all()
    np.testing.assert_allclose(manifest["clean_score"], direct.result.clean_scores.numpy(), rtol=1e-5)
    stored = np.load(out / manifest["map_file"][0])
    for key, mask in zip(manifest["mask_key"], direct.masks):
        np.testing.assert_array_equal(stored[key].astype(bool), mask)
    assert_maps_match(np.stack([stored[k] for k in manifest["map_key"]]).astype(np.float64),
                      direct.maps.numpy(), atol=1e-3)


def test_options_of_other_kinds_are_refused(tmp_path, capsys, detr, segformer, picture):
    run = _explain(capsys, picture, segformer, tmp_path / "a", "--min-score", "0.5")
    assert run.code == 2 and "--min-score/--max-detections must be used with detectors, got a segmenter" in run.err
    run = _explain(capsys, picture, detr, tmp_path / "b", "--top-k", "2")
    assert run.code == 2 and "--target/--top-k/--targets-csv must be used with classifiers, got a detector" in run.err
    run = _explain(capsys, picture, detr, tmp_path / "c", "--sigma", "5", "3")
    assert run.code == 2 and "one --sigma value and no --recursive for a detector" in run.err
    run = _explain(capsys, picture, segformer, tmp_path / "d", "--cohort")
    assert run.code == 2 and "--cohort must be used with classifiers" in run.err
    run = _explain(capsys, picture, detr, tmp_path / "e", "--min-score", "1.5")
    assert run.code == 2 and "expected a number in [0, 1], got '1.5'" in run.err
    for name in "abcde":
        assert not [f for f in files_under(str(tmp_path / name)) if f.startswith("maps/")]


def test_report_of_a_detector_run_draws_its_boxes(tmp_path, capsys, detr, picture):
    pytest.importorskip("PIL")
    from tests.report.helpers import page_data

    out = tmp_path / "out"
    run = _explain(capsys, picture, detr, out, "--min-score", "0.3", "--report")
    assert run.code == 0, run.err
    direct = _direct_detections(detr, picture, min_score=0.3)
    image = page_data(str(out / "report.html"))["images"][0]
    assert image["kind"] == "detections"
    order = np.argsort(-direct.scores, kind="stable")
    np.testing.assert_array_equal([t["box"] for t in image["targets"]], direct.boxes[order])
    assert all(t["frame"] == [37, 53] for t in image["targets"])
