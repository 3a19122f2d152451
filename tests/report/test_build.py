"""Building the report without a browser: its pictures against hand-made references, its data,
the files it writes and refuses to write, and the ``glas report`` command."""

from __future__ import annotations

import io
import os
import re

import numpy as np
import pytest

pytest.importorskip("pyarrow")
pytest.importorskip("matplotlib")
pytest.importorskip("PIL")

from PIL import Image  # noqa: E402

from glas_adapters.report import assets, build_report  # noqa: E402
from glas_adapters.report.build import sigma_sort_key  # noqa: E402
from glas_core import GLASError  # noqa: E402

from .helpers import SPECS, Spec, make_output, page_data  # noqa: E402

# matplotlib's "jet" as published (_cm.py): (x, y0, y1) breakpoints per channel.
JET = {
    "red": [(0.0, 0.0), (0.35, 0.0), (0.66, 1.0), (0.89, 1.0), (1.0, 0.5)],
    "green": [(0.0, 0.0), (0.125, 0.0), (0.375, 1.0), (0.64, 1.0), (0.91, 0.0), (1.0, 0.0)],
    "blue": [(0.0, 0.5), (0.11, 1.0), (0.34, 1.0), (0.65, 0.0), (1.0, 0.0)],
}


def jet_reference(values01: np.ndarray) -> np.ndarray:
    """Colours of values in [0, 1] by hand: 256 table entries, entry ``min(int(v * 256), 255)``."""
    out = np.zeros(values01.shape + (3,))
    for c, channel in enumerate(("red", "green", "blue")):
        xs, ys = zip(*JET[channel])
        table = np.interp(np.arange(256) / 255.0, xs, ys)
        for idx in np.ndindex(values01.shape):
            out[idx + (c,)] = table[min(int(values01[idx] * 256), 255)] * 255.0
    return out


def minmax_reference(m: np.ndarray) -> np.ndarray:
    m = m.astype(np.float64)
    lo, hi = m.min(), m.max()
    return np.zeros_like(m) if hi == lo else (m - lo) / (hi - lo)


def decode(data_or_path) -> np.ndarray:
    src = io.BytesIO(data_or_path) if isinstance(data_or_path, bytes) else data_or_path
    with Image.open(src) as im:
        return np.asarray(im.convert("RGB"))


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("built"))
    out = make_output(root, SPECS)
    summary = build_report(out, os.path.join(root, "report.html"))
    return root, out, summary, page_data(summary.path)


def test_map_pictures_are_the_stored_maps_normalised_and_coloured(built):
    root, out, summary, data = built
    checked = 0
    for image in data["images"]:
        stored = np.load(os.path.join(out, "maps", image["id"] + ".npz"))
        for m in image["maps"]:
            raw = stored[m["key"]]
            png = decode(os.path.join(root, m["src"]))
            assert png.shape == raw.shape + (3,)
            np.testing.assert_allclose(png, jet_reference(minmax_reference(raw)), atol=1.0)
            assert m["lo"] == float(raw.min()) and m["hi"] == float(raw.max())
            checked += 1
    assert checked == summary.n_maps == 18


def test_colour_bar_runs_through_the_colour_map_left_to_right(built):
    root, _, _, data = built
    bar = decode(os.path.join(root, data["colorbar"]))
    np.testing.assert_allclose(bar[0], jet_reference(np.linspace(0.0, 1.0, bar.shape[1])), atol=1.0)


def test_index_data(built):
    _, _, summary, data = built
    images = data["images"]
    assert [im["name"] for im in images] == [s.name for s in SPECS]
    # the quadrant of the red square is each image's top class; b's label says otherwise
    assert [im["top"] for im in images] == [0, 1, 2, 3]
    assert [im["wrong"] for im in images] == [False, True, None, False]
    assert images[1]["label_name"] == "bottom-right"
    scores = [im["score"] for im in images]
    assert scores[3] > scores[0] > scores[2] > scores[1]  # redder squares score higher
    assert images[0]["sigmas"] == ["5,3,6", "1"] and images[2]["iterations"] == [None, 1, 2]
    assert data["cmap"] == "jet" and data["alpha"] == 0.5 and data["labels"] is True
    assert summary.n_images == 4 and not summary.missing_photos and not summary.unusable_maps


def test_thumbnail_is_the_photo_under_the_top_map(built):
    root, out, _, data = built
    image = data["images"][0]
    thumb = decode(os.path.join(root, image["thumb"])).astype(np.float64)
    photo = decode(os.path.join(root, image["photo"])).astype(np.float64)
    coarse = [m for m in image["maps"] if m["t"] == 0 and m["s"] == 0][0]
    heat = jet_reference(minmax_reference(np.load(os.path.join(out, "maps", "a_top_left.npz"))[coarse["key"]]))
    np.testing.assert_allclose(thumb, 0.5 * photo + 0.5 * heat, atol=2.0)  # 24 px: no resizing


def test_sigmas_sort_coarse_to_fine():
    labels = ["1", "5,3,6", "3", "auto", "3,3,6", "10"]
    assert sorted(labels, key=sigma_sort_key) == ["10", "5,3,6", "3,3,6", "3", "1", "auto"]


def test_files_beside_the_html_and_nothing_from_the_network(built):
    root, _, summary, data = built
    html = open(summary.path, encoding="utf-8").read()
    assert not re.search(r"https?://|//[a-z0-9.-]+\.[a-z]{2,}/", html, re.I)
    assert "default-src 'none'" in html
    names = sorted(os.listdir(summary.assets_dir))
    assert names == [".glas-report", "colorbar.png", "m", "p", "t"]
    assert len(os.listdir(os.path.join(summary.assets_dir, "m"))) == 18
    for image in data["images"]:
        assert image["photo"].startswith("report_files/p/")
    assert summary.asset_bytes == sum(os.path.getsize(os.path.join(d, f))
                                      for d, _, fs in os.walk(summary.assets_dir) for f in fs if f != ".glas-report")


def test_embedded_report_is_one_file(tmp_path):
    out = make_output(str(tmp_path), SPECS[:2])
    summary = build_report(out, str(tmp_path / "one.html"), embed=True)
    data = page_data(summary.path)
    assert summary.assets_dir is None and not os.path.exists(tmp_path / "one_files")
    sources = [data["colorbar"]] + [im[k] for im in data["images"] for k in ("photo", "thumb")]
    sources += [m["src"] for im in data["images"] for m in im["maps"]]
    assert all(s.startswith("data:image/") for s in sources)
    assert summary.html_bytes > summary.asset_bytes


def test_hostile_names_stay_text(tmp_path):
    evil = "</script><script>alert(1)</script> & <!--"

    def hook(rows):
        for row in rows:
            row["class_name"] = evil
        return rows
    out = make_output(str(tmp_path), [Spec("x.png", 0)], rows_hook=hook)
    summary = build_report(out, str(tmp_path / "r.html"), title=evil + " GLAS:DATA")
    html = open(summary.path, encoding="utf-8").read()
    assert "<script>alert(1)" not in html
    data = page_data(summary.path)
    assert data["images"][0]["top_name"] == evil and data["title"] == evil + " GLAS:DATA"


def test_flat_and_non_finite_maps_are_marked_not_hidden(tmp_path):
    out = make_output(str(tmp_path), [Spec("x.png", 0)], sigmas=("3",))
    npz = os.path.join(out, "maps", "x.npz")
    maps = dict(np.load(npz))
    maps["t0_s3"] = np.full((24, 24), 0.25, dtype=np.float16)
    maps["t1_s3"][3, 4] = np.inf
    np.savez(npz, **maps)
    summary = build_report(out, str(tmp_path / "r.html"))
    flat, bad = page_data(summary.path)["images"][0]["maps"]
    assert (flat["status"], bad["status"]) == ("flat", "nonfinite")
    assert bad["src"] is None and summary.unusable_maps == ["x: target 1, sigma 3"]
    # a flat map has no evidence: drawn as all 0, the colour map's first colour
    np.testing.assert_array_equal(decode(os.path.join(str(tmp_path), flat["src"])),
                                  np.broadcast_to([0, 0, 127], (24, 24, 3)))


def test_missing_photo_shows_the_map_alone(tmp_path):
    out = make_output(str(tmp_path), [Spec("x.png", 0)], sigmas=("3",))
    os.remove(tmp_path / "photos" / "x.png")
    summary = build_report(out, str(tmp_path / "r.html"))
    image = page_data(summary.path)["images"][0]
    assert image["photo"] is None and "photo not found" in image["photo_note"]
    assert summary.missing_photos == [f"x: photo not found at {str(tmp_path / 'photos' / 'x.png')!r}"]
    thumb = decode(os.path.join(str(tmp_path), image["thumb"])).astype(np.float64)
    raw = np.load(os.path.join(out, "maps", "x.npz"))["t0_s3"]
    # no photo: the thumbnail is the map, resized from 24 to 96 px, coloured
    assert thumb.shape == (96, 96, 3)
    np.testing.assert_allclose(thumb[::4, ::4].mean(axis=(0, 1)),
                               jet_reference(minmax_reference(raw)).mean(axis=(0, 1)), atol=8.0)


def test_relative_photo_paths_are_read_from_the_maps_folder(tmp_path, monkeypatch):
    def hook(rows):
        for row in rows:
            row["path"] = os.path.join("..", "photos", "x.png")
        return rows
    out = make_output(str(tmp_path), [Spec("x.png", 0)], sigmas=("3",), rows_hook=hook)
    monkeypatch.chdir(tmp_path / "photos")  # neither here nor an absolute path: found beside the maps
    summary = build_report(out, str(tmp_path / "r.html"))
    assert page_data(summary.path)["images"][0]["photo"] is not None and not summary.missing_photos


def test_report_inside_the_maps_folder(tmp_path):
    out = make_output(str(tmp_path), SPECS[:1])
    summary = build_report(out, os.path.join(out, "report.html"))  # what glas explain --report writes
    data = page_data(summary.path)
    assert data["images"][0]["photo"] == "report_files/p/0.png"
    assert os.path.isfile(os.path.join(out, "report_files", "p", "0.png"))
    build_report(out, os.path.join(out, "report.html"))  # and again: the maps are untouched
    assert len(page_data(summary.path)["images"]) == 1


def test_rebuild_replaces_its_own_folder_only(tmp_path):
    out = make_output(str(tmp_path), SPECS[:1])
    html = str(tmp_path / "r.html")
    build_report(out, html)
    (tmp_path / "r_files" / "stale.png").write_bytes(b"old")
    build_report(out, html)
    assert not (tmp_path / "r_files" / "stale.png").exists()
    other = tmp_path / "mine_files"
    other.mkdir()
    (other / "keep.txt").write_text("mine")
    with pytest.raises(GLASError, match="was not written by glas report"):
        build_report(out, str(tmp_path / "mine.html"))
    assert (other / "keep.txt").read_text() == "mine" and not (tmp_path / "mine.html").exists()


def test_output_that_would_replace_an_input_is_refused(tmp_path):
    out = make_output(str(tmp_path), SPECS[:1])
    os.rename(out, str(tmp_path / "r_files"))  # r.html's pictures folder would be the maps folder
    with pytest.raises(GLASError, match="holds none of the report's inputs.*would replace"):
        build_report(str(tmp_path / "r_files"), str(tmp_path / "r.html"))
    assert os.path.isfile(tmp_path / "r_files" / "manifest.parquet")
    with pytest.raises(GLASError, match="ending in .html"):
        build_report(str(tmp_path / "r_files"), str(tmp_path / "r.png"))


def test_interrupted_rebuild_keeps_the_previous_report(tmp_path, monkeypatch):
    out = make_output(str(tmp_path), SPECS[:3])
    html = str(tmp_path / "r.html")
    build_report(out, html)
    before = open(html, "rb").read()
    files_before = sorted(os.listdir(tmp_path / "r_files" / "m"))
    calls = []
    real = assets.encode

    def interrupt(*args):
        calls.append(1)
        if len(calls) == 5:
            raise KeyboardInterrupt
        return real(*args)
    monkeypatch.setattr(assets, "encode", interrupt)
    with pytest.raises(KeyboardInterrupt):
        build_report(out, html)
    assert open(html, "rb").read() == before
    assert sorted(os.listdir(tmp_path / "r_files" / "m")) == files_before
    assert not [n for n in os.listdir(tmp_path) if n.startswith(".glas")]


def test_glas_report_command(tmp_path, capsys):
    from tests.cli.helpers import assert_one_line_error, run_glas

    out = make_output(str(tmp_path), SPECS[:2])
    run = run_glas(capsys, "report", out, "--out", str(tmp_path / "r.html"), "--quiet")
    assert run.code == 0, run.err
    assert re.search(r"wrote .*r\.html: 2 images, 8 maps, pictures in .*r_files, [0-9.]+ kB per image", run.out)
    assert len(page_data(str(tmp_path / "r.html"))["images"]) == 2
    assert_one_line_error(run_glas(capsys, "report", str(tmp_path / "none"), "--out", str(tmp_path / "x.html")),
                          "maps folder", "check the path")
    assert_one_line_error(run_glas(capsys, "report", out, "--out", str(tmp_path / "x.txt")), "ending in .html")
    os.remove(tmp_path / "photos" / SPECS[1].name)
    run = run_glas(capsys, "report", out, "--out", str(tmp_path / "r.html"), "--quiet")
    assert run.code == 0 and "wrote" in run.out
    assert run.err.startswith("glas: warning: b_top_right: photo not found at ") and run.err.count("\n") == 1
