"""``glas explain FOLDER --out OUT``: the manifest and maps contract, stable ids, resume, --keep-going,
--targets-csv, recursive rows and the refusals that keep inputs and other jobs safe.

The model is the TorchScript quadrant model of ``helpers`` (class 0 reads the red mean of the
top-left quadrant), whose maps are recomputed here with ``glas_core.explain`` on a NumPy score
function. Torch runs with one thread (the root conftest.py).
"""

from __future__ import annotations

import os

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pq = pytest.importorskip("pyarrow.parquet")
pytest.importorskip("matplotlib")
pytest.importorskip("PIL")

import glas_core  # noqa: E402
from glas_adapters.cli.dataset import image_id  # noqa: E402

from .helpers import (  # noqa: E402
    assert_maps_match,
    assert_one_line_error,
    files_under,
    make_quadrant_model,
    per_map_peak,
    quadrant_probabilities,
    run_glas,
    save_rgb,
)

SIZE = 16
CONTRACT = [("image_id", "string"), ("path", "string"), ("target", "int64"), ("class_name", "string"),
            ("clean_score", "double"), ("sigma", "string"), ("grid", "int64"), ("mode", "string"),
            ("n_forward", "int64"), ("map_file", "string"), ("map_key", "string"), ("height", "int64"),
            ("width", "int64"), ("label", "int64"), ("iteration", "int64"), ("runtime", "string"),
            ("object", "int64"), ("box_x1", "double"), ("box_y1", "double"), ("box_x2", "double"),
            ("box_y2", "double"), ("region_pixels", "int64"), ("mask_key", "string")]  # null for a classifier
RELPATHS = ["a.png", "b.png", "sub/deeper/c.png"]


@pytest.fixture()
def photos(tmp_path):
    """Three 16 x 16 images in nested folders, a text file that is not an image, and the model."""
    rng = np.random.default_rng(5)
    folder = tmp_path / "photos"
    pixels = {}
    for i, rel in enumerate(RELPATHS):
        os.makedirs(os.path.dirname(folder / rel), exist_ok=True)
        img = np.round(rng.random((SIZE, SIZE, 3)) * 0.3 * 255) / 255
        img[: SIZE // 2, : SIZE // 2, 0] = np.round((0.3 + 0.3 * i) * 255) / 255  # different predictions
        save_rgb(str(folder / rel), img)
        pixels[rel] = img
    (folder / "notes.txt").write_text("not an image")
    model = str(tmp_path / "quadrant.pt")
    torch.jit.script(make_quadrant_model()).save(model)
    return folder, model, pixels


def _explain(capsys, folder, model, out, *extra):
    return run_glas(capsys, "explain", str(folder), "--model", model, "--grid", "4", "--input-size", str(SIZE),
                    "--device", "cpu", "--out", str(out), "--quiet", *extra)


def _reference(img, targets, **kwargs):
    x = img.transpose(2, 0, 1).astype(np.float32)
    return glas_core.explain(lambda b: quadrant_probabilities(b)[:, targets], x, **kwargs).to_numpy()


def test_folder_run_writes_the_contracted_manifest_and_maps(capsys, tmp_path, photos):
    folder, model, pixels = photos
    out = tmp_path / "out"
    run = _explain(capsys, folder, model, out, "--sigma", "2", "1", "--top-k", "2", "--exhaustive")
    assert run.code == 0, run.err
    per_image = 1 + 2 * (2 * 16 + 1)  # the prediction, then one full sweep per scale
    assert f"({len(RELPATHS) * per_image} forward passes)" in run.out
    table = pq.read_table(out / "manifest.parquet")
    assert [(f.name, str(f.type)) for f in table.schema] == CONTRACT
    rows = table.to_pylist()
    assert len(rows) == len(RELPATHS) * 2 * 2                        # images x targets x sigmas
    assert [r["image_id"] for r in rows[::4]] == [image_id(rel) for rel in RELPATHS]   # sorted, recursive
    assert {f for f in files_under(str(out)) if f.startswith("maps/")} == \
        {f"maps/{image_id(rel)}.npz" for rel in RELPATHS}
    for r in rows:
        rel = RELPATHS[[image_id(p) for p in RELPATHS].index(r["image_id"])]
        img = pixels[rel]
        probs = quadrant_probabilities(img.transpose(2, 0, 1)[None])[0]
        assert r["path"] == os.path.join(str(folder), rel)
        assert r["target"] in (0, 1) and r["class_name"] == f"class {r['target']}"
        assert r["clean_score"] == pytest.approx(probs[r["target"]], rel=1e-5)
        assert (r["grid"], r["mode"], r["n_forward"], r["height"], r["width"]) == (4, "fusion", 2 * 16 + 1, SIZE, SIZE)
        assert r["label"] is None and r["iteration"] is None and r["object"] is None and r["mask_key"] is None
        assert r["map_file"] == f"maps/{r['image_id']}.npz"
        assert r["map_key"] == f"target{r['target']}_sigma{r['sigma']}"
        saved = np.load(out / r["map_file"])[r["map_key"]]
        assert saved.dtype == np.float16 and saved.shape == (SIZE, SIZE)
        assert float(saved.max()) == 1.0                             # stored with peak 1
        ref = _reference(img, [r["target"]], grid=4, sigma=float(r["sigma"]))[0]
        np.testing.assert_allclose(saved.astype(np.float64), per_map_peak(ref), rtol=0, atol=1e-3)
    first = [r for r in rows if r["image_id"] == image_id("a.png")]
    order = np.argsort(-quadrant_probabilities(pixels["a.png"].transpose(2, 0, 1)[None])[0], kind="stable")
    assert [r["target"] for r in first[:2]] == order.tolist()         # top-2 by probability
    assert [r["sigma"] for r in first] == ["2", "2", "1", "1"]


def test_several_sigmas_are_searched_adaptively_by_default(capsys, tmp_path, photos):
    folder, model, pixels = photos
    out = tmp_path / "out"
    run = _explain(capsys, folder, model, out, "--grid", "6", "--sigma", "2", "1", "0.5")
    assert run.code == 0, run.err
    rows = pq.read_table(out / "manifest.parquet").to_pylist()
    total = 0
    for rel in RELPATHS:
        img = pixels[rel]
        x = img.transpose(2, 0, 1).astype(np.float32)
        target = int(np.argmax(quadrant_probabilities(x[None])[0]))
        want = glas_core.explain_multiscale(lambda b, t=target: quadrant_probabilities(b)[:, [t]], x,
                                            [2.0, 1.0, 0.5], grid=6, adaptive=True)
        mine = [r for r in rows if r["image_id"] == image_id(rel)]
        assert [r["sigma"] for r in mine] == ["2", "1", "0.5"]
        assert [r["n_forward"] for r in mine] == [w.n_forward for w in want]
        assert mine[0]["n_forward"] == 2 * 36 + 1 and all(r["n_forward"] < 2 * 36 for r in mine[1:])
        for r, w in zip(mine, want):
            saved = np.load(out / r["map_file"])[r["map_key"]].astype(np.float64)
            np.testing.assert_allclose(saved, per_map_peak(w.to_numpy())[0], rtol=0, atol=1e-3)
        total += 1 + sum(w.n_forward for w in want)
    assert f"({total} forward passes)" in run.out
    assert total < 0.8 * len(RELPATHS) * (1 + 3 * (2 * 36 + 1))
    # the same folder with --exhaustive is other settings: refused, nothing overwritten
    again = _explain(capsys, folder, model, out, "--grid", "6", "--sigma", "2", "1", "0.5", "--exhaustive")
    assert_one_line_error(again, "holds results of other settings")


def test_default_target_is_the_predicted_class(capsys, tmp_path, photos):
    folder, model, pixels = photos
    out = tmp_path / "out"
    assert _explain(capsys, folder, model, out).code == 0
    rows = pq.read_table(out / "manifest.parquet").to_pylist()
    assert len(rows) == len(RELPATHS)
    for r, rel in zip(rows, RELPATHS):
        predicted = int(np.argmax(quadrant_probabilities(pixels[rel].transpose(2, 0, 1)[None])[0]))
        assert r["target"] == predicted and r["sigma"] == "5,3,6"


def test_ids_do_not_depend_on_the_working_directory(capsys, tmp_path, photos, monkeypatch):
    folder, model, _ = photos
    assert _explain(capsys, folder, model, tmp_path / "o1").code == 0
    monkeypatch.chdir(folder.parent)
    assert _explain(capsys, "photos", model, tmp_path / "o2").code == 0
    ids = [pq.read_table(tmp_path / o / "manifest.parquet").column("image_id").to_pylist() for o in ("o1", "o2")]
    assert ids[0] == ids[1] == [image_id(rel) for rel in RELPATHS]


def test_a_glob_explains_what_it_matches(capsys, tmp_path, photos):
    folder, model, _ = photos
    out = tmp_path / "out"
    assert _explain(capsys, str(folder / "**" / "c.png"), model, out).code == 0
    rows = pq.read_table(out / "manifest.parquet").to_pylist()
    assert [r["image_id"] for r in rows] == [image_id("sub/deeper/c.png")]


def test_a_rerun_computes_nothing_and_rewrites_nothing(capsys, tmp_path, photos):
    folder, model, _ = photos
    out = tmp_path / "out"
    assert _explain(capsys, folder, model, out).code == 0
    maps = {f: os.stat(out / f).st_mtime_ns for f in files_under(str(out)) if f.startswith(("maps/", "records/"))}
    before = pq.read_table(out / "manifest.parquet")
    run = _explain(capsys, folder, model, out)
    assert run.code == 0 and "explained 0 of 3 images" in run.out and "3 finished by an earlier run" in run.out
    assert {f: os.stat(out / f).st_mtime_ns for f in maps} == maps
    assert pq.read_table(out / "manifest.parquet").equals(before)


def test_keep_going_reports_a_corrupt_image_and_a_rerun_finishes_it(capsys, tmp_path, photos):
    folder, model, pixels = photos
    bad = folder / "sub" / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(40))
    out = tmp_path / "out"
    run = _explain(capsys, folder, model, out, "--keep-going")
    assert run.code == 1, run.err
    assert f"glas: failed: {bad}" in run.err and "could not decode" in run.err
    assert "Traceback" not in run.err
    assert "3 of 4 images" in run.out and "1 failed" in run.out
    assert (out / "failures.csv").read_text().splitlines()[1].startswith(str(bad))
    assert len(pq.read_table(out / "manifest.parquet")) == 3
    save_rgb(str(bad), pixels["a.png"])                               # repaired
    run = _explain(capsys, folder, model, out, "--keep-going")
    assert run.code == 0 and "explained 1 of 4 images" in run.out
    assert not (out / "failures.csv").exists()
    assert image_id("sub/broken.png") in pq.read_table(out / "manifest.parquet").column("image_id").to_pylist()


def test_targets_csv_gives_targets_and_labels_per_image(capsys, tmp_path, photos):
    folder, model, pixels = photos
    table = tmp_path / "targets.csv"
    table.write_text("image,target,label\na.png,1,0\na.png,0,0\nsub/deeper/c.png,1,1\n")
    out = tmp_path / "out"
    run = _explain(capsys, folder, model, out, "--targets-csv", str(table), "--sigma", "1")
    assert run.code == 0, run.err
    rows = pq.read_table(out / "manifest.parquet").to_pylist()
    assert [(r["image_id"], r["target"], r["label"]) for r in rows] == [
        (image_id("a.png"), 1, 0), (image_id("a.png"), 0, 0), (image_id("sub/deeper/c.png"), 1, 1)]
    saved = np.load(out / rows[0]["map_file"])
    ref = _reference(pixels["a.png"], [1, 0], grid=4, sigma=1.0)
    assert_maps_match(np.stack([saved["target1_sigma1"], saved["target0_sigma1"]]).astype(np.float64), ref,
                      atol=1e-3)


@pytest.mark.parametrize("text, fragment", [
    ("image,target\nzebra.png,1\n", "'zebra.png', which is not among the input images"),
    ("image,target\na.png,cat\n", "'cat' in the target column"),
    ("picture,class\na.png,1\n", "a header naming 'image' and 'target'"),
    ("image,target\na.png,5\n", "[0, 2)"),
])
def test_bad_targets_csv_is_one_line(capsys, tmp_path, photos, text, fragment):
    folder, model, _ = photos
    table = tmp_path / "targets.csv"
    table.write_text(text)
    run = _explain(capsys, folder, model, tmp_path / "out", "--targets-csv", str(table))
    assert_one_line_error(run, fragment)
    assert [f for f in files_under(str(tmp_path / "out")) if f.startswith("maps/")] == []


def test_recursive_rows_hold_every_iteration_and_the_accumulated_map(capsys, tmp_path, photos):
    folder, model, pixels = photos
    out = tmp_path / "out"
    run = _explain(capsys, str(folder / "a.png"), model, out, "--recursive", "--target", "0", "--figures")
    assert run.code == 0, run.err
    rows = pq.read_table(out / "manifest.parquet").to_pylist()
    x = pixels["a.png"].transpose(2, 0, 1).astype(np.float32)
    ref = glas_core.explain_recursive(lambda b: quadrant_probabilities(b)[:, [0]], x, grid=4)
    n_iter = len(ref.iterations[0])
    assert [r["iteration"] for r in rows] == [None] + list(range(1, n_iter + 1))
    assert [r["map_key"] for r in rows] == ["target0_sigma5,3,6"] + [f"target0_sigma5,3,6_iter{i}"
                                                                     for i in range(1, n_iter + 1)]
    saved = np.load(out / rows[0]["map_file"])
    np.testing.assert_allclose(saved[rows[0]["map_key"]].astype(np.float64), per_map_peak(ref.to_numpy()[0]),
                               atol=2e-3)
    assert [f for f in files_under(str(out)) if f.startswith("figures/")] == [
        f"figures/{rows[0]['image_id']}_rglas_1.png"]


# ---- what the command refuses, before writing anything


def test_an_output_folder_holding_the_inputs_is_refused(capsys, tmp_path, photos):
    folder, model, _ = photos
    run = _explain(capsys, folder / "sub", model, folder)
    assert_one_line_error(run, "holding the image")
    assert not (folder / "manifest.parquet").exists()


def test_an_input_inside_the_output_folder_is_refused(capsys, tmp_path, photos):
    folder, model, _ = photos
    out = tmp_path / "out"
    assert _explain(capsys, folder / "a.png", model, out, "--figures").code == 0
    figure = [f for f in files_under(str(out)) if f.startswith("figures/")][0]
    before = (out / figure).read_bytes()
    run = _explain(capsys, out / figure, model, out)
    assert_one_line_error(run, "inside --out")
    assert (out / figure).read_bytes() == before


def test_the_output_folder_is_never_read_as_input(capsys, tmp_path, photos):
    folder, model, _ = photos
    out = folder / "explained"                     # inside the input folder: skipped, never explained
    assert _explain(capsys, folder, model, out, "--figures").code == 0
    run = _explain(capsys, folder, model, out, "--figures")
    assert run.code == 0 and "explained 0 of 3 images" in run.out


def test_other_settings_in_a_used_folder_are_refused(capsys, tmp_path, photos):
    folder, model, _ = photos
    out = tmp_path / "out"
    assert _explain(capsys, folder, model, out).code == 0
    before = pq.read_table(out / "manifest.parquet")
    run = _explain(capsys, folder, model, out, "--sigma", "2")
    assert_one_line_error(run, "holds results of other settings", "sigmas differ")
    assert pq.read_table(out / "manifest.parquet").equals(before)


@pytest.mark.parametrize("args, fragment", [
    (["--input-size", "100000"], "at most 2048"),
    (["--grid", "4,5"], "--grid"),
    (["--workers", "2"], "--engine ray"),
    (["--gpus-per-worker", "1"], "--engine ray"),
    (["--gpus-per-worker", "0"], "--gpus-per-worker"),
    (["--sigma", "2", "2"], "distinct scales"),
    (["--sigma", "1", "2"], "coarse to fine"),
    (["--sigma", "3", "2,2,7"], "coarse to fine"),
])
def test_bad_dataset_options(capsys, tmp_path, photos, args, fragment):
    folder, model, _ = photos
    run = run_glas(capsys, "explain", str(folder), "--model", model, "--out", str(tmp_path / "out"), "--quiet", *args)
    assert_one_line_error(run, fragment)
    assert files_under(str(tmp_path / "out")) == []


def test_figure_copy_is_no_larger_than_the_figure():
    from glas_adapters.cli.figures import figure_copy

    big = np.random.default_rng(0).random((3000, 2000, 3)).astype(np.float32)
    small = figure_copy(big, 640)
    assert small.shape == (640, 427, 3) and small.dtype == np.float32
    assert abs(float(small.mean()) - float(big.mean())) < 1e-3      # an average, not a crop
    tiny = np.zeros((20, 30, 3), np.float32)
    assert figure_copy(tiny, 640) is tiny


def test_cohort_is_the_normalised_sum_of_normalised_maps(capsys, tmp_path, photos):
    folder, model, _ = photos
    out = tmp_path / "out"
    run = _explain(capsys, folder, model, out, "--target", "0", "1", "--sigma", "2", "1", "--cohort")
    assert run.code == 0, run.err
    cohort = np.load(out / "cohort.npz")
    rows = pq.read_table(out / "manifest.parquet").to_pylist()
    assert sorted(cohort.files) == sorted({f"target{r['target']}_sigma{r['sigma']}" for r in rows}) and \
        len(cohort.files) == 4
    for key in cohort.files:
        total = np.zeros((SIZE, SIZE))
        for r in rows:
            if f"target{r['target']}_sigma{r['sigma']}" == key:
                m = np.load(out / r["map_file"])[r["map_key"]].astype(np.float64)
                total += (m - m.min()) / (m.max() - m.min())
        expected = (total - total.min()) / (total.max() - total.min())
        np.testing.assert_allclose(cohort[key], expected, rtol=0, atol=1e-6)


def test_report_flag_writes_a_report_of_every_image(capsys, tmp_path, photos):
    folder, model, _ = photos
    out = tmp_path / "out"
    assert _explain(capsys, folder, model, out, "--report").code == 0
    html = (out / "report.html").read_text()
    for rel in RELPATHS:
        assert image_id(rel) in html  # the index lists every image the job explained
    assert "http://" not in html and "https://" not in html
