"""Peak memory of ``glas explain --figures`` on a 40-megapixel photo stays under 2 GB.

The photo (7300 x 5480, a smooth gradient so the PNG is small) is explained by the tiny
quadrant model in a subprocess; a wrapper process runs it and reports its children's peak
resident set size (``getrusage``), so nothing else the test process did counts.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")
Image = pytest.importorskip("PIL.Image")
pytest.importorskip("matplotlib")

from .helpers import make_quadrant_model  # noqa: E402

pytestmark = pytest.mark.slow

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LIMIT_BYTES = 2 * 1024 ** 3
WRAPPER = ("import json, resource, subprocess, sys; "
           "done = subprocess.run(sys.argv[1:], capture_output=True, text=True); "
           "print(json.dumps([done.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, "
           "done.stdout, done.stderr]))")


def test_a_40_megapixel_photo_with_figures_stays_under_2_gb(tmp_path):
    height, width = 5480, 7300
    ramp_y = np.linspace(0, 255, height, dtype=np.float32)[:, None]
    ramp_x = np.linspace(0, 255, width, dtype=np.float32)[None, :]
    pixels = np.empty((height, width, 3), np.uint8)
    pixels[..., 0], pixels[..., 1], pixels[..., 2] = ramp_y, ramp_x, (ramp_y + ramp_x) / 2
    os.makedirs(tmp_path / "photos")
    Image.fromarray(pixels).save(tmp_path / "photos" / "big.png", compress_level=1)
    del pixels
    model = str(tmp_path / "quadrant.pt")
    torch.jit.script(make_quadrant_model()).save(model)
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""), OMP_NUM_THREADS="1")
    command = [sys.executable, "-m", "glas_adapters.cli", "explain", str(tmp_path / "photos"), "--model", model,
               "--input-size", "32", "--grid", "3", "--figures", "--device", "cpu", "--out", str(tmp_path / "out"),
               "--quiet"]
    wrapped = subprocess.run([sys.executable, "-c", WRAPPER, *command], capture_output=True, text=True, env=env,
                             timeout=600)
    code, peak_kib, out, err = json.loads(wrapped.stdout)
    assert code == 0, err
    assert "explained 1 of 1 images" in out
    figure = [n for n in os.listdir(tmp_path / "out" / "figures") if n.endswith(".png")]
    assert len(figure) == 1
    with Image.open(tmp_path / "out" / "figures" / figure[0]) as im:
        assert max(im.size) < 2000                      # drawn at the figure's size, not the photo's
    assert peak_kib * 1024 < LIMIT_BYTES, f"peak {peak_kib / 1024:.0f} MiB"
