"""``glas explain --model model.onnx``: maps of an exported model equal an independent NumPy computation.

The quadrant model of the TorchScript tests (class 0 reads the red mean of the top-left
quadrant) is exported with ``torch.onnx.export`` and explained through ONNX Runtime; the
reference recomputes its scores in NumPy, with ``--normalize`` applied after the masks.  The
ONNX maps are Eq. 3 up to one positive factor per target, so each is compared after division
by its peak.  torch runs with one thread (the root conftest.py), and so does ONNX Runtime:
the command gives it torch's thread count where torch is imported.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

import glas_core  # noqa: E402

from .helpers import (  # noqa: E402
    assert_maps_match,
    assert_one_line_error,
    make_quadrant_model,
    quadrant_probabilities,
    run_glas,
    save_rgb,
)

SIZE = 16
IMAGENET = dict(mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))


def export(model, path, batch="dynamic", channels=3):
    x = torch.rand(1, channels, SIZE, SIZE)
    axes = {"pixels": {0: "batch"}, "logits": {0: "batch"}} if batch == "dynamic" else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (x,), path, dynamo=False, input_names=["pixels"], output_names=["logits"],
                          dynamic_axes=axes)
    return path


@pytest.fixture()
def scene(tmp_path):
    rng = np.random.default_rng(0)
    pixels = np.round(rng.random((SIZE, SIZE, 3)) * 0.2 * 255) / 255
    pixels[: SIZE // 2, : SIZE // 2, 0] = 1.0
    image = save_rgb(str(tmp_path / "scene.png"), pixels)
    return image, pixels


def reference(pixels, targets, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0), **kwargs):
    x = pixels.transpose(2, 0, 1).astype(np.float32)
    m = np.asarray(mean, np.float32)[None, :, None, None]
    s = np.asarray(std, np.float32)[None, :, None, None]
    result = glas_core.explain(lambda batch: quadrant_probabilities((batch - m) / s)[:, targets], x, **kwargs)
    return result.to_numpy()


@pytest.mark.parametrize("batch,normalize", [("dynamic", "none"), ("fixed", "imagenet")])
def test_onnx_maps_match_a_numpy_reference(scene, tmp_path, capsys, batch, normalize):
    image, pixels = scene
    model = export(make_quadrant_model(), str(tmp_path / "quadrant.onnx"), batch)
    out, maps = tmp_path / "out", tmp_path / "maps.npz"
    run = run_glas(capsys, "explain", image, "--model", model, "--target", "0", "1", "--grid", "4", "--sigma", "1",
                   "--normalize", normalize, "--device", "cpu", "--out", str(out), "--save-maps", str(maps),
                   "--quiet", "--figures")
    assert run.code == 0, run.err
    (figure,) = (out / "figures").iterdir()
    assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    saved = np.load(maps)
    stats = IMAGENET if normalize == "imagenet" else {}
    ref = reference(pixels, [0, 1], grid=4, sigma=1.0, **stats)
    assert saved["saliency_0"].shape == (2, 1, SIZE, SIZE)
    assert_maps_match(saved["saliency_0"][:, 0], ref)
    m, s = (np.asarray(v) for v in (IMAGENET["mean"], IMAGENET["std"])) if stats else (0.0, 1.0)
    clean = quadrant_probabilities(((pixels - m) / s).transpose(2, 0, 1)[None])[0]
    np.testing.assert_allclose(saved["scores_0"], clean, rtol=1e-5)


def test_recursive_and_several_scales(scene, tmp_path, capsys):
    image, _ = scene
    model = export(make_quadrant_model(), str(tmp_path / "quadrant.onnx"))
    maps = tmp_path / "maps.npz"
    run = run_glas(capsys, "explain", image, "--model", model, "--target", "0", "--grid", "4", "--sigma", "2", "1",
                   "--out", str(tmp_path / "o"), "--save-maps", str(maps), "--quiet", "--device", "cpu")
    assert run.code == 0, run.err
    assert np.load(maps)["saliency_0"].shape == (1, 2, SIZE, SIZE)
    run = run_glas(capsys, "explain", image, "--model", model, "--target", "0", "--grid", "4", "--recursive",
                   "--out", str(tmp_path / "r"), "--quiet", "--device", "cpu")
    assert run.code == 0, run.err


def test_onnx_refusals(scene, tmp_path, capsys):
    image, _ = scene
    model = export(make_quadrant_model(), str(tmp_path / "quadrant.onnx"))
    out = str(tmp_path / "o")
    assert_one_line_error(run_glas(capsys, "explain", image, "--model", model, "--device", "mps", "--out", out),
                          "--device", "cpu, cuda or cuda:N for ONNX models")
    assert_one_line_error(run_glas(capsys, "explain", image, "--model", model, "--input-size", "32", "--out", out),
                          "--input-size", "the model's own input size 16,16")
    garbage = tmp_path / "broken.onnx"
    garbage.write_bytes(b"\x08\x07garbage")
    assert_one_line_error(run_glas(capsys, "explain", image, "--model", str(garbage), "--out", out),
                          "which ONNX Runtime cannot load")

    class Grey(torch.nn.Module):
        def forward(self, x):
            return x.mean(dim=(2, 3)).repeat(1, 2)

    grey = export(Grey(), str(tmp_path / "grey.onnx"), channels=1)
    assert_one_line_error(run_glas(capsys, "explain", image, "--model", grey, "--out", out),
                          "1 input channels", "RGB input")
