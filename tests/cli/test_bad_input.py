"""Bad input to ``glas``: one ``glas: error:`` line, exit status 2, no traceback, nothing written.

Every case runs the real command in-process with a tiny TorchScript model (or none, when the
error comes first) and checks the output directory stays empty.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("matplotlib")
Image = pytest.importorskip("PIL.Image")

from .helpers import assert_one_line_error, files_under, make_quadrant_model, run_glas, save_rgb  # noqa: E402


@pytest.fixture()
def ok(tmp_path):
    """A valid image and a valid TorchScript model."""
    image = save_rgb(str(tmp_path / "ok.png"), np.full((8, 8, 3), 0.5))
    model = str(tmp_path / "model.pt")
    torch.jit.script(make_quadrant_model()).save(model)
    return image, model


def _explain(capsys, tmp_path, image, model, *extra):
    out = tmp_path / "out"
    run = run_glas(capsys, "explain", image, "--model", model, "--grid", "2", "--input-size", "8",
                   "--out", str(out), "--quiet", "--device", "cpu", *extra)
    return run, out


def _assert_failed_cleanly(run, out, *fragments):
    assert_one_line_error(run, *fragments)
    assert files_under(str(out)) == []


# ---- images


def test_missing_image(capsys, tmp_path, ok):
    run, out = _explain(capsys, tmp_path, str(tmp_path / "nope.png"), ok[1])
    _assert_failed_cleanly(run, out, "not found", "nope.png")


def test_folder_without_images(capsys, tmp_path, ok):
    empty = tmp_path / "empty"
    (empty / "sub").mkdir(parents=True)
    (empty / "sub" / "notes.txt").write_text("no image here")
    run, out = _explain(capsys, tmp_path, str(empty), ok[1])
    _assert_failed_cleanly(run, out, "holds no image files", "empty")


def test_glob_matching_nothing(capsys, tmp_path, ok):
    run, out = _explain(capsys, tmp_path, str(tmp_path / "*.jpeg"), ok[1])
    _assert_failed_cleanly(run, out, "matches no file")


def test_corrupt_image(capsys, tmp_path, ok):
    bad = tmp_path / "bad.png"
    bad.write_bytes(os.urandom(300))
    run, out = _explain(capsys, tmp_path, str(bad), ok[1])
    _assert_failed_cleanly(run, out, "could not decode", "bad.png")


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_truncated_image(capsys, tmp_path, ok, fmt):
    src = tmp_path / f"full.{fmt.lower()}"
    rng = np.random.default_rng(0)
    Image.fromarray((rng.random((64, 64, 3)) * 255).astype(np.uint8)).save(src, fmt)
    data = src.read_bytes()
    cut = tmp_path / f"cut.{fmt.lower()}"
    cut.write_bytes(data[: len(data) // 2])
    run, out = _explain(capsys, tmp_path, str(cut), ok[1])
    _assert_failed_cleanly(run, out, "could not decode")


def test_float_image_is_refused(capsys, tmp_path, ok):
    path = tmp_path / "float.tiff"
    Image.fromarray(np.full((8, 8), 3.5, dtype=np.float32), mode="F").save(path)
    run, out = _explain(capsys, tmp_path, str(path), ok[1])
    _assert_failed_cleanly(run, out, "32-bit float")


def test_a_bad_image_after_a_good_one_keeps_the_good_one_and_names_the_bad_one(capsys, tmp_path, ok):
    bad = tmp_path / "z_bad.jpg"  # sorted after ok.png
    bad.write_bytes(b"\xff\xd8\xff" + os.urandom(50))
    out = tmp_path / "out"
    run = run_glas(capsys, "explain", ok[0], str(bad), "--model", ok[1], "--grid", "2", "--input-size", "8",
                   "--out", str(out), "--quiet", "--device", "cpu")
    assert_one_line_error(run, "z_bad.jpg", "rerun to resume", "--keep-going")
    maps = [f for f in files_under(str(out)) if f.startswith("maps/")]
    assert len(maps) == 1 and "ok.png-" in maps[0]
    assert "manifest.parquet" in files_under(str(out))


# ---- models


def test_missing_model(capsys, tmp_path, ok):
    run, out = _explain(capsys, tmp_path, ok[0], str(tmp_path / "nope.pt"))
    _assert_failed_cleanly(run, out, "does not exist")


def test_text_file_as_model(capsys, tmp_path, ok):
    path = tmp_path / "notes.pt"
    path.write_text("not a model")
    run, out = _explain(capsys, tmp_path, ok[0], str(path))
    _assert_failed_cleanly(run, out, "not a TorchScript file", "torch.jit.script")


def test_state_dict_is_refused_with_a_fix(capsys, tmp_path, ok):
    path = tmp_path / "weights.pt"
    torch.save(torch.nn.Linear(2, 2).state_dict(), path)
    run, out = _explain(capsys, tmp_path, ok[0], str(path))
    _assert_failed_cleanly(run, out, "state_dict", "torch.jit.script")


class Pickled(torch.nn.Module):
    def forward(self, x):
        return x.mean(dim=(2, 3))


def test_pickled_module_is_never_unpickled(capsys, tmp_path, ok):
    path = tmp_path / "full.pt"
    torch.save(Pickled(), path)
    run, out = _explain(capsys, tmp_path, ok[0], str(path))
    _assert_failed_cleanly(run, out, "will not unpickle")


def test_keras_file_that_is_not_a_keras_archive(capsys, tmp_path, ok):
    path = tmp_path / "model.keras"
    path.write_bytes(b"hello")
    run, out = _explain(capsys, tmp_path, ok[0], str(path))
    _assert_failed_cleanly(run, out, "not a Keras 3 .keras archive")


def test_legacy_h5_is_refused(capsys, tmp_path, ok):
    path = tmp_path / "model.h5"
    path.write_bytes(b"\x89HDF\r\n\x1a\n")
    run, out = _explain(capsys, tmp_path, ok[0], str(path))
    _assert_failed_cleanly(run, out, "HDF5")


def test_directory_without_config_is_not_a_huggingface_model(capsys, tmp_path, ok):
    folder = tmp_path / "empty_model"
    folder.mkdir()
    run, out = _explain(capsys, tmp_path, ok[0], str(folder))
    _assert_failed_cleanly(run, out, "config.json")


def test_model_with_the_wrong_output_shape(capsys, tmp_path, ok):
    class Spatial(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x[:, :2]                       # (B, 2, H, W): not class scores

    path = str(tmp_path / "spatial.pt")
    torch.jit.script(Spatial()).save(path)
    run, out = _explain(capsys, tmp_path, ok[0], path)
    _assert_failed_cleanly(run, out, "(batch, num_classes)")


# ---- targets and options


@pytest.mark.parametrize("target", ["2", "-1"])
def test_class_index_out_of_range(capsys, tmp_path, ok, target):
    run, out = _explain(capsys, tmp_path, ok[0], ok[1], "--target", target)
    _assert_failed_cleanly(run, out, "[0, 2)", target)


def test_class_index_out_of_range_in_a_list_writes_nothing(capsys, tmp_path, ok):
    out = tmp_path / "out"
    run = run_glas(capsys, "explain", ok[0], "--model", ok[1], "--target", "0,7", "--grid", "2",
                   "--input-size", "8", "--out", str(out), "--quiet", "--device", "cpu")
    _assert_failed_cleanly(run, out, "7")


def test_unknown_class_name(capsys, tmp_path, ok):
    run, out = _explain(capsys, tmp_path, ok[0], ok[1], "--target", "zebra")
    _assert_failed_cleanly(run, out, "'zebra'")


def test_bad_device(capsys, tmp_path, ok):
    run, out = _explain(capsys, tmp_path, ok[0], ok[1], "--device", "toaster")
    _assert_failed_cleanly(run, out, "--device")


@pytest.mark.parametrize("args, fragment", [
    (["--grid", "0"], "--grid"),
    (["--sigma", "-1"], "--sigma"),
    (["--sigma", "1,2"], "--sigma"),
    (["--batch-size", "x"], "--batch-size"),
    (["--mode", "dark"], "--mode"),
    (["--top-k", "2", "--target", "1"], "not allowed"),
])
def test_bad_options_are_one_line_usage_errors(capsys, tmp_path, ok, args, fragment):
    run, out = _explain(capsys, tmp_path, ok[0], ok[1], *args)
    _assert_failed_cleanly(run, out, fragment)


def test_recursive_with_several_scales_is_refused(capsys, tmp_path, ok):
    run, out = _explain(capsys, tmp_path, ok[0], ok[1], "--recursive", "--sigma", "2", "1")
    assert_one_line_error(run, "--recursive")


# ---- outputs


def test_out_is_an_existing_file(capsys, tmp_path, ok):
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    run = run_glas(capsys, "explain", ok[0], "--model", ok[1], "--out", str(blocker), "--quiet")
    assert_one_line_error(run, "is a file")
    assert blocker.read_text() == "x"


def test_out_below_a_file_is_not_writable(capsys, tmp_path, ok):
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    run = run_glas(capsys, "explain", ok[0], "--model", ok[1], "--out", str(blocker / "sub"), "--quiet")
    assert_one_line_error(run, "not writable")


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root ignores directory permissions")
def test_read_only_out_directory(capsys, tmp_path, ok):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        run = run_glas(capsys, "explain", ok[0], "--model", ok[1], "--out", str(locked), "--quiet")
        assert_one_line_error(run, "not writable")
        assert files_under(str(locked)) == []
    finally:
        locked.chmod(0o700)


def test_save_maps_needs_an_npz_name(capsys, tmp_path, ok):
    run, out = _explain(capsys, tmp_path, ok[0], ok[1], "--save-maps", str(tmp_path / "maps.txt"))
    _assert_failed_cleanly(run, out, ".npz")


def test_failed_write_leaves_no_partial_file(tmp_path):
    from glas_adapters.cli.outputs import write_atomically
    from glas_core import GLASError

    target = tmp_path / "result.npz"

    def explode(handle):
        handle.write(b"half of it")
        raise OSError(28, "No space left on device")

    with pytest.raises(GLASError, match="No space left"):
        write_atomically(str(target), explode)
    assert files_under(str(tmp_path)) == []


def test_an_existing_output_is_replaced_whole(tmp_path):
    from glas_adapters.cli.outputs import write_atomically

    target = tmp_path / "result.png"
    target.write_bytes(b"old")
    write_atomically(str(target), lambda f: f.write(b"new content"))
    assert target.read_bytes() == b"new content"
    assert files_under(str(tmp_path)) == ["result.png"]


def test_missing_optional_package_is_one_line(capsys, tmp_path, ok, monkeypatch):
    import sys

    import glas_adapters

    monkeypatch.setitem(sys.modules, "captum.attr", None)  # as if captum were not installed
    for name in [m for m in sys.modules if m == "glas_adapters.torch" or m.startswith("glas_adapters.torch.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.delattr(glas_adapters, "torch", raising=False)
    run, out = _explain(capsys, tmp_path, *ok)
    _assert_failed_cleanly(run, out, "needs the package 'captum.attr'", 'pip install "glas-xai[cli]"')
