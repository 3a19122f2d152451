"""``glas explain`` on ``.npy`` series with the command's own model files: TorchScript and ``.keras``.

Tiny Conv1d / Conv1D classifiers are built in the test and saved; the command's manifest and maps
are compared with :func:`glas_adapters.torch.explain` and :func:`glas_adapters.tf.explain`
called directly on the same series, which checks reading, loading, targets and the file layout,
not the adapters' math (tests/adapters does that).
"""

from __future__ import annotations

import os

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pd = pytest.importorskip("pandas")

from .helpers import assert_one_line_error, files_under, run_glas, save_rgb  # noqa: E402

CHANNELS, LENGTH, CLASSES = 2, 48, 3


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _conv1d(channels: int = CHANNELS) -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Conv1d(channels, 6, 5, padding=2), torch.nn.ReLU(),
                               torch.nn.AdaptiveAvgPool1d(1), torch.nn.Flatten(), torch.nn.Linear(6, CLASSES)).eval()


@pytest.fixture(scope="module")
def scripted(tmp_path_factory):
    path = tmp_path_factory.mktemp("ts") / "seq.pt"
    torch.jit.script(_conv1d()).save(str(path))
    return str(path)


@pytest.fixture(scope="module")
def traced_one_channel(tmp_path_factory):
    path = tmp_path_factory.mktemp("ts1") / "seq1.pt"
    torch.jit.trace(_conv1d(1), torch.zeros(1, 1, LENGTH)).save(str(path))
    return str(path)


def _series(seed: int, shape=(CHANNELS, LENGTH)) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = 0.1 * rng.standard_normal(shape).astype(np.float32)
    x[..., 20:30] += 1.0  # a bump the model can react to
    return x


def _peak(m: np.ndarray) -> np.ndarray:
    return m / np.abs(m).max()


def _softmax(logits: np.ndarray) -> np.ndarray:
    e = np.exp(logits - logits.max())
    return e / e.sum()


def test_a_folder_of_series_with_a_torchscript_conv1d_model(tmp_path, capsys, scripted):
    from glas_adapters import torch as glas_torch

    folder = tmp_path / "series"
    folder.mkdir()
    series = {"a.npy": _series(1), "b.npy": _series(2)}
    for name, x in series.items():
        np.save(folder / name, x)
    before = {name: (folder / name).read_bytes() for name in series}
    out, maps = tmp_path / "out", tmp_path / "maps.npz"
    run = run_glas(capsys, "explain", str(folder), "--model", scripted, "--grid", "8", "--top-k", "2",
                   "--out", str(out), "--save-maps", str(maps), "--figures", "--quiet", "--device", "cpu")
    assert run.code == 0, run.err
    manifest = pd.read_parquet(out / "manifest.parquet")
    module = torch.jit.load(scripted).eval()
    saved = np.load(maps)
    for i, (name, x) in enumerate(series.items()):
        probs = _softmax(module(torch.from_numpy(x)[None]).detach().numpy()[0].astype(np.float64))
        top2 = [int(t) for t in np.argsort(-probs, kind="stable")[:2]]
        direct = glas_torch.explain(module, torch.from_numpy(x), top2, grid=8, spatial_dims=1, progress=False)
        direct = direct.detach().numpy()
        rows = manifest[manifest["path"] == str(folder / name)]
        assert list(rows["target"]) == top2
        assert list(rows["height"]) == [1, 1] and list(rows["width"]) == [LENGTH, LENGTH]
        assert list(rows["runtime"]) == ["torch", "torch"]
        np.testing.assert_allclose(rows["clean_score"], probs[top2], rtol=1e-5)
        stored = np.load(out / rows["map_file"].iloc[0])
        for key, expected in zip(rows["map_key"], direct):
            assert stored[key].shape == (LENGTH,)
            np.testing.assert_allclose(stored[key], _peak(expected.astype(np.float64)), atol=1e-3)  # stored float16
        np.testing.assert_allclose(saved[f"saliency_{i}"][:, 0], direct, rtol=1e-4, atol=1e-7)  # (T, S, L)
        assert list(saved[f"targets_{i}"]) == top2
    figures = [f for f in files_under(str(out)) if f.startswith("figures/")]
    assert len(figures) == 4 and all(f.endswith(".png") for f in figures)
    assert {name: (folder / name).read_bytes() for name in series} == before  # inputs never written


def test_a_one_axis_series_is_one_channel_with_several_scales(tmp_path, capsys, traced_one_channel):
    from glas_adapters import torch as glas_torch

    x = _series(3, (LENGTH,))
    np.save(tmp_path / "wave.npy", x)
    out = tmp_path / "out"
    run = run_glas(capsys, "explain", str(tmp_path / "wave.npy"), "--model", traced_one_channel, "--grid", "8",
                   "--target", "1", "--sigma", "3", "1", "--out", str(out), "--quiet", "--device", "cpu")
    assert run.code == 0, run.err
    module = torch.jit.load(traced_one_channel).eval()
    direct = glas_torch.explain_multiscale(module, torch.from_numpy(x)[None], [1], sigmas=[3.0, 1.0], grid=8,
                                           spatial_dims=1, adaptive=True, progress=False)
    manifest = pd.read_parquet(out / "manifest.parquet")
    assert list(manifest["sigma"]) == ["3", "1"] and list(manifest["target"]) == [1, 1]
    assert list(manifest["width"]) == [LENGTH, LENGTH]
    stored = np.load(out / manifest["map_file"][0])
    for key, expected in zip(manifest["map_key"], direct):
        want = _peak(expected.detach().numpy()[0].astype(np.float64))
        np.testing.assert_allclose(stored[key], want, atol=1e-3)


@pytest.fixture(scope="module")
def keras_file(tmp_path_factory):
    pytest.importorskip("tensorflow")
    keras = pytest.importorskip("keras")
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((LENGTH, CHANNELS)), keras.layers.Conv1D(6, 5, padding="same",
                                                                                    activation="relu"),
                              keras.layers.GlobalAveragePooling1D(), keras.layers.Dense(CLASSES)])
    path = tmp_path_factory.mktemp("keras") / "seq.keras"
    model.save(str(path))
    return str(path)


def test_a_series_with_a_keras_conv1d_model(tmp_path, capsys, keras_file):
    import keras

    from glas_adapters import tf as glas_tf

    x = _series(4)
    np.save(tmp_path / "s.npy", x)
    out, maps = tmp_path / "out", tmp_path / "maps.npz"
    run = run_glas(capsys, "explain", str(tmp_path / "s.npy"), "--model", keras_file, "--grid", "8",
                   "--target", "0", "2", "--out", str(out), "--save-maps", str(maps), "--figures", "--quiet",
                   "--device", "cpu")
    assert run.code == 0, run.err
    model = keras.saving.load_model(keras_file)
    direct = np.asarray(glas_tf.explain(model, x.T.copy(), [0, 2], grid=8, progress=False))
    probs = _softmax(np.asarray(model(x.T[None]))[0].astype(np.float64))
    manifest = pd.read_parquet(out / "manifest.parquet")
    assert list(manifest["target"]) == [0, 2] and list(manifest["runtime"]) == ["keras", "keras"]
    assert list(manifest["height"]) == [1, 1] and list(manifest["width"]) == [LENGTH, LENGTH]
    np.testing.assert_allclose(manifest["clean_score"], probs[[0, 2]], rtol=1e-5)
    stored = np.load(out / manifest["map_file"][0])
    for key, expected in zip(manifest["map_key"], direct):
        np.testing.assert_allclose(stored[key], _peak(expected.astype(np.float64)), atol=1e-3)  # stored float16
    np.testing.assert_allclose(np.load(maps)["saliency_0"][:, 0], direct, rtol=1e-4, atol=1e-7)
    assert len([f for f in files_under(str(out)) if f.startswith("figures/")]) == 2


def test_an_interrupted_series_job_resumes_without_recomputing(tmp_path, capsys, scripted, monkeypatch):
    from glas_adapters.jobs import series as series_module

    folder = tmp_path / "series"
    folder.mkdir()
    for i in range(3):
        np.save(folder / f"s{i}.npy", _series(10 + i))
    args = [str(folder), "--model", scripted, "--grid", "6", "--quiet", "--device", "cpu"]
    reference = tmp_path / "reference"
    assert run_glas(capsys, "explain", *args, "--out", str(reference)).code == 0
    read, calls, stopped = series_module.read_series, [], []

    def interrupted(path):  # Ctrl-C while the first run reads s1.npy
        calls.append(os.path.basename(path))
        if path.endswith("s1.npy") and not stopped:
            stopped.append(path)
            raise KeyboardInterrupt
        return read(path)

    monkeypatch.setattr(series_module, "read_series", interrupted)
    out = tmp_path / "out"
    run = run_glas(capsys, "explain", *args, "--out", str(out))
    assert run.code == 130 and "finished results are kept" in run.err
    first = [f for f in files_under(str(out)) if f.startswith("maps/")]
    assert len(first) == 1
    kept = (out / first[0]).stat().st_mtime_ns
    assert calls == ["s0.npy", "s1.npy"]
    calls.clear()
    run = run_glas(capsys, "explain", *args, "--out", str(out))
    assert run.code == 0 and "1 finished by an earlier run" in run.out
    assert calls == ["s1.npy", "s2.npy"]  # s0 is not read again
    assert (out / first[0]).stat().st_mtime_ns == kept
    got, want = pd.read_parquet(out / "manifest.parquet"), pd.read_parquet(reference / "manifest.parquet")
    pd.testing.assert_frame_equal(got.drop(columns=["path"]), want.drop(columns=["path"]))
    for name in [f for f in files_under(str(reference)) if f.startswith("maps/")]:
        a, b = np.load(out / name), np.load(reference / name)
        assert all(np.array_equal(a[k], b[k]) for k in b.files)


def test_an_array_that_is_not_a_series_is_refused(tmp_path, capsys, scripted):
    np.save(tmp_path / "image.npy", np.zeros((16, 16, 3), np.float32))
    run = run_glas(capsys, "explain", str(tmp_path / "image.npy"), "--model", scripted, "--out",
                   str(tmp_path / "out"), "--quiet", "--device", "cpu")
    assert_one_line_error(run, "image.npy", "shape (16, 16, 3)", "(T,) or (C, T)", "one series per file")


def test_a_channels_last_series_is_refused_for_torchscript_and_keras(tmp_path, capsys, scripted, keras_file):
    np.save(tmp_path / "tc.npy", _series(5).T)
    for model in (scripted, keras_file):
        run = run_glas(capsys, "explain", str(tmp_path / "tc.npy"), "--model", model, "--grid", "8", "--out",
                       str(tmp_path / f"out{os.path.basename(model)}"), "--quiet", "--device", "cpu")
        assert_one_line_error(run, "tc.npy", f"shape ({LENGTH}, {CHANNELS})", "a (T, C) series",
                              "np.save(path, x.T)")


def test_a_series_with_another_channel_count_is_refused(tmp_path, capsys, scripted):
    np.save(tmp_path / "three.npy", _series(6, (3, LENGTH)))
    run = run_glas(capsys, "explain", str(tmp_path / "three.npy"), "--model", scripted, "--out",
                   str(tmp_path / "out"), "--quiet", "--device", "cpu")
    assert_one_line_error(run, "three.npy", "3 channels", "2 channels")


def test_a_keras_series_of_another_length_gets_the_library_refusal_in_one_line(tmp_path, capsys, keras_file):
    np.save(tmp_path / "long.npy", _series(6, (CHANNELS, LENGTH + 4)))
    run = run_glas(capsys, "explain", str(tmp_path / "long.npy"), "--model", keras_file, "--out",
                   str(tmp_path / "out"), "--quiet", "--device", "cpu")
    assert_one_line_error(run, "long.npy", f"{LENGTH + 4} time steps", f"{LENGTH} time steps")


def test_a_series_shorter_than_the_grid_is_refused(tmp_path, capsys, scripted):
    np.save(tmp_path / "short.npy", _series(7, (CHANNELS, 6)))
    run = run_glas(capsys, "explain", str(tmp_path / "short.npy"), "--model", scripted, "--grid", "8", "--out",
                   str(tmp_path / "out"), "--quiet", "--device", "cpu")
    assert_one_line_error(run, "short.npy", "grid must be at most", "got 8")


def test_images_and_series_with_one_model_are_refused(tmp_path, capsys, scripted):
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    save_rgb(str(mixed / "photo.png"), np.zeros((8, 8, 3)))
    np.save(mixed / "s.npy", _series(8))
    # the folder is walked for its images: a sequence classifier refuses them
    run = run_glas(capsys, "explain", str(mixed), "--model", scripted, "--out", str(tmp_path / "out1"), "--quiet",
                   "--device", "cpu")
    assert_one_line_error(run, "photo.png", "not a .npy series", "folder of their own")
    run = run_glas(capsys, "explain", str(mixed / "s.npy"), str(mixed / "photo.png"), "--model", scripted, "--out",
                   str(tmp_path / "out2"), "--quiet", "--device", "cpu")
    assert_one_line_error(run, "photo.png", "not a .npy series")
    assert not os.path.exists(tmp_path / "out2" / "maps") or not os.listdir(tmp_path / "out2" / "maps")


def test_series_for_an_image_classifier_are_refused(tmp_path, capsys):
    torch.manual_seed(0)
    image_model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(),
                                      torch.nn.Linear(4, CLASSES)).eval()
    path = str(tmp_path / "img.pt")
    torch.jit.script(image_model).save(path)
    np.save(tmp_path / "s.npy", _series(9))
    run = run_glas(capsys, "explain", str(tmp_path / "s.npy"), "--model", path, "--input-size", "16", "--out",
                   str(tmp_path / "out"), "--quiet", "--device", "cpu")
    assert_one_line_error(run, "s.npy", "image classifier", "first layer is Conv1d")


def test_image_options_are_refused_for_a_sequence_classifier(tmp_path, capsys, scripted):
    np.save(tmp_path / "s.npy", _series(9))
    run = run_glas(capsys, "explain", str(tmp_path / "s.npy"), "--model", scripted, "--normalize", "imagenet",
                   "--out", str(tmp_path / "out"), "--quiet", "--device", "cpu")
    assert_one_line_error(run, "--input-size/--normalize", "sequence classifier", "drop them")


def test_series_for_an_onnx_model_are_refused(tmp_path, capsys):
    onnx_path = tmp_path / "m.onnx"
    onnx_path.write_bytes(b"not read: the inputs are refused first")
    np.save(tmp_path / "s.npy", _series(9))
    run = run_glas(capsys, "explain", str(tmp_path / "s.npy"), "--model", str(onnx_path), "--out",
                   str(tmp_path / "out"), "--quiet", "--device", "cpu")
    assert_one_line_error(run, "ONNX model", ".npy series", "4-D image inputs only", "torch.jit.script")
