"""The report of a detector's and a segmenter's output: each box or region outline drawn over its map.

The outputs are written with the job layer's own manifest writer and maps format (rows as
:mod:`glas_adapters.jobs.objects` writes them), with boxes and masks chosen here; the page's
SVG shapes are measured in headless Chromium against the box's corners and the mask's cells
scaled to the photo by hand.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

pytest.importorskip("pyarrow")
pytest.importorskip("PIL")

from glas_core import GLASError  # noqa: E402

from . import browser  # noqa: E402
from .helpers import page_data, write_png  # noqa: E402

SIZE = (30, 40)  # the photo's (and the maps') height and width
BOXES = [(4.0, 3.0, 20.0, 15.0), (22.0, 10.0, 38.0, 28.0), (6.0, 16.0, 14.0, 26.0)]
LABELS = [1, 1, 2]          # two detections of one class: two targets
SCORES = [0.97, 0.81, 0.66]
NAMES = {0: "background", 1: "apple", 2: "plum"}


def _maps(n):
    """A smooth bump per target, at different places (any finite maps do for the report)."""
    yy, xx = np.mgrid[:SIZE[0], :SIZE[1]]
    return [np.exp(-((xx - 6 - 12 * t) ** 2 + (yy - 8 - 6 * t) ** 2) / 40.0) for t in range(n)]


def _row(image_id, path, t, target, score, key, **extra):
    return {"image_id": image_id, "path": path, "target": target, "class_name": NAMES[target], "clean_score": score,
            "sigma": "5,3,6", "grid": 6, "mode": "fusion", "n_forward": 73, "map_file": f"maps/{image_id}.npz",
            "map_key": key, "height": SIZE[0], "width": SIZE[1], "label": None, "iteration": None,
            "runtime": "torch", "object": t, **extra}


def region_masks():
    """Three regions on a 10 x 8 output grid (a quarter of the photo's size)."""
    grid = np.zeros((8, 10), dtype=np.int64)
    grid[1:4, 2:6] = 1
    grid[5:8, 0:3] = 2
    grid[5, 7] = 2  # a second, one-cell island of class 2
    return [grid == k for k in range(3)]


def make_objects_output(root):
    """Photos and a maps folder with one detector image and one segmenter image; the maps folder."""
    from glas_adapters.jobs.layout import npz_bytes
    from glas_adapters.jobs.manifest import write_parquet

    out = os.path.join(root, "out")
    os.makedirs(os.path.join(out, "maps"))
    os.makedirs(os.path.join(root, "photos"))
    rows = []
    rng = np.random.default_rng(0)
    for name in ("det", "seg"):
        write_png(os.path.join(root, "photos", f"{name}.png"), rng.random(SIZE + (3,)))
    det_path = os.path.join(root, "photos", "det.png")
    arrays = {}
    for t, (box, label, score, m) in enumerate(zip(BOXES, LABELS, SCORES, _maps(3))):
        key = f"object{t}_sigma5,3,6"
        arrays[key] = m
        rows.append(_row("det", det_path, t, label, score, key, box_x1=box[0], box_y1=box[1], box_x2=box[2],
                         box_y2=box[3]))
    with open(os.path.join(out, "maps", "det.npz"), "wb") as fh:
        fh.write(npz_bytes(arrays))
    seg_path = os.path.join(root, "photos", "seg.png")
    arrays = {}
    for t, (mask, m) in enumerate(zip(region_masks(), _maps(3))):
        key = f"object{t}_sigma5,3,6"
        arrays[key], arrays[f"object{t}_mask"] = m, mask.astype(np.float64)
        rows.append(_row("seg", seg_path, t, t, [0.9, 0.8, 0.7][t], key, region_pixels=int(mask.sum()),
                         mask_key=f"object{t}_mask"))
    with open(os.path.join(out, "maps", "seg.npz"), "wb") as fh:
        fh.write(npz_bytes(arrays))
    with open(os.path.join(out, "manifest.parquet"), "wb") as fh:
        write_parquet(rows, fh)
    return out


def _sides_of_path(d):
    """Unit cell sides of an ``M x y H x`` / ``M x y V y`` path."""
    import re

    sides = set()
    for x0, y0, op, end in re.findall(r"M(\d+) (\d+)([HV])(\d+)", d):
        x0, y0, end = int(x0), int(y0), int(end)
        if op == "H":
            sides |= {((x, y0), (x + 1, y0)) for x in range(x0, end)}
        else:
            sides |= {((x0, y), (x0, y + 1)) for y in range(y0, end)}
    return sides


def _sides_loop(mask):
    h, w = mask.shape
    sides = set()
    for r in range(h):
        for c in range(w):
            if mask[r, c]:
                if r == 0 or not mask[r - 1, c]:
                    sides.add(((c, r), (c + 1, r)))
                if r == h - 1 or not mask[r + 1, c]:
                    sides.add(((c, r + 1), (c + 1, r + 1)))
                if c == 0 or not mask[r, c - 1]:
                    sides.add(((c, r), (c, r + 1)))
                if c == w - 1 or not mask[r, c + 1]:
                    sides.add(((c + 1, r), (c + 1, r + 1)))
    return sides


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    from glas_adapters.report import build_report

    root = str(tmp_path_factory.mktemp("objects"))
    summary = build_report(make_objects_output(root), os.path.join(root, "report.html"))
    return summary, page_data(summary.path)


def test_every_detection_is_a_target_with_its_box(report):
    summary, data = report
    assert summary.n_images == 2 and summary.n_maps == 6
    det = data["images"][0]
    assert det["kind"] == "detections"
    assert [(t["target"], t["name"], t["score"]) for t in det["targets"]] == list(
        zip(LABELS, [NAMES[k] for k in LABELS], SCORES))
    assert [t["box"] for t in det["targets"]] == [list(b) for b in BOXES]
    assert all(t["frame"] == list(SIZE) for t in det["targets"])
    assert sorted(m["t"] for m in det["maps"]) == [0, 1, 2]  # one map per detection, apples apart
    assert (det["top"], det["top_name"], det["score"]) == (1, "apple", 0.97)


def test_every_region_is_a_target_with_its_outline(report):
    _, data = report
    seg = data["images"][1]
    assert seg["kind"] == "regions"
    for t, mask in zip(seg["targets"], region_masks()):
        assert t["grid"] == [8, 10] and t["pixels"] == int(mask.sum())
        assert _sides_of_path(t["outline"]) == _sides_loop(mask)


def test_a_classifier_report_has_no_shapes(tmp_path):
    from glas_adapters.report import build_report

    from .helpers import SPECS, make_output

    data = page_data(build_report(make_output(str(tmp_path), SPECS[:1]), str(tmp_path / "r.html")).path)
    image = data["images"][0]
    assert image["kind"] is None and not any("box" in t or "outline" in t for t in image["targets"])


def test_broken_boxes_and_masks_are_refused(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from glas_adapters.report import build_report, load_masks, read_output

    out = make_objects_output(str(tmp_path))
    path = os.path.join(out, "manifest.parquet")
    table = pq.read_table(path)
    broken = table.set_column(table.column_names.index("box_x2"), "box_x2",
                              pa.array([1.0] + table.column("box_x2").to_pylist()[1:], pa.float64()))
    pq.write_table(broken, path)
    with pytest.raises(GLASError, match=r"box must be four finite corners x1 <= x2, y1 <= y2"):
        read_output(out)
    pq.write_table(table, path)
    np.savez(os.path.join(out, "maps", "seg.npz"), **{**dict(np.load(os.path.join(out, "maps", "seg.npz"))),
                                                      "object1_mask": np.full((8, 10), 0.5)})
    with pytest.raises(GLASError, match="a 2-D mask of 0s and 1s"):
        load_masks(out, read_output(out)[1])
    with pytest.raises(GLASError, match="a 2-D mask of 0s and 1s"):
        build_report(out, str(tmp_path / "r.html"))


# ---------------------------------------------------------------------------------------------- in a browser

needs_browser = pytest.mark.skipif(browser.missing() is not None, reason=str(browser.missing()))


@pytest.fixture(scope="module")
def driver(tmp_path_factory):
    if browser.missing() is not None:
        pytest.skip(str(browser.missing()))
    d = browser.start(str(tmp_path_factory.mktemp("profile")))
    yield d
    d.quit()


def _open(driver, report, n):
    browser.open_page(driver, report[0].path)
    driver.execute_script(f"location.hash = 'image={n}'")
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, 10).until(lambda d: d.execute_script("return !document.getElementById('view').hidden"))


def _rect(driver, css):
    return driver.execute_script(
        "const r = document.querySelector(arguments[0]).getBoundingClientRect();"
        "return [r.left, r.top, r.width, r.height]", css)


def _choose(driver, value):
    from selenium.webdriver.support.ui import Select

    Select(driver.find_element("id", "s-target")).select_by_value(str(value))


@needs_browser
def test_each_detection_box_is_drawn_over_its_map(driver, report):
    _, data = report
    _open(driver, report, 0)
    det = data["images"][0]
    left, top, width, height = _rect(driver, "#v-overlay")
    sx, sy = width / SIZE[1], height / SIZE[0]
    for t, box in enumerate(BOXES):
        _choose(driver, t)
        src = driver.execute_script("return document.querySelector('#v-overlay img.map').getAttribute('src')")
        assert src == next(m["src"] for m in det["maps"] if m["t"] == t)   # this detection's map ...
        shown = driver.execute_script("return [...document.querySelectorAll('#v-overlay svg.shape')]"
                                      ".map(s => s.dataset.t)")
        assert shown == [str(t)]                                           # ... with its box alone over it
        x, y, w, h = _rect(driver, "#v-overlay svg.shape rect.line")
        expected = (left + box[0] * sx, top + box[1] * sy, (box[2] - box[0]) * sx, (box[3] - box[1]) * sy)
        np.testing.assert_allclose((x, y, w, h), expected, atol=1.0)
        assert f"box {box[0]:g}, {box[1]:g}, {box[2]:g}, {box[3]:g}" in driver.find_element("id", "v-settings").text
    # the photo panel shows every box, the selected one solid, with its class and score
    assert driver.execute_script("return document.querySelectorAll('#v-photo svg.shape rect.line').length") == 3
    assert driver.execute_script("return document.querySelector('#v-photo svg.shape.current').dataset.t") == "2"
    tags = driver.execute_script("return [...document.querySelectorAll('#v-photo .tag')].map(t => t.textContent)")
    assert tags == ["apple 97.0%", "apple 81.0%", "plum 66.0%"]
    x, y, _, _ = _rect(driver, "#v-photo .tag[data-t='1']")
    p_left, p_top, p_width, p_height = _rect(driver, "#v-photo")
    assert x == pytest.approx(p_left + BOXES[1][0] * p_width / SIZE[1], abs=1.0)   # its left edge at the box's
    assert browser.console_errors(driver) == []


@needs_browser
def test_each_region_outline_is_drawn_over_its_map(driver, report):
    _, data = report
    _open(driver, report, 1)
    seg = data["images"][1]
    left, top, width, height = _rect(driver, "#v-overlay")
    sx, sy = width / 10, height / 8  # the grid's cells on the photo
    for t, mask in enumerate(region_masks()):
        _choose(driver, seg["targets"].index(next(x for x in seg["targets"] if x["target"] == t)))
        d = driver.execute_script("return document.querySelector('#v-overlay svg.shape path.line').getAttribute('d')")
        assert _sides_of_path(d) == _sides_loop(mask)
        rows, cols = np.nonzero(mask)
        expected = (left + cols.min() * sx, top + rows.min() * sy, (cols.max() + 1 - cols.min()) * sx,
                    (rows.max() + 1 - rows.min()) * sy)
        np.testing.assert_allclose(_rect(driver, "#v-overlay svg.shape path.line"), expected, atol=1.0)
        assert f"region {int(mask.sum())} of the 10 × 8 output grid" in driver.find_element("id", "v-settings").text
    assert driver.execute_script("return document.querySelectorAll('#v-photo svg.shape path.line').length") == 3
    assert browser.console_errors(driver) == []


@needs_browser
def test_index_counts_detections_and_regions(driver, report):
    browser.open_page(driver, report[0].path)
    counts = driver.execute_script("return [...document.querySelectorAll('#rows .row')].map(r => r.children[6]"
                                   ".textContent)")
    assert counts == ["3 detections \u00d7 1 \u03c3", "3 regions \u00d7 1 \u03c3"]
