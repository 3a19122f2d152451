"""Every script in examples/ runs offline to completion and writes its figure.

Each runs in a fresh subprocess (cwd = a temp dir, so figures land there) with one thread
for torch/OpenMP and TensorFlow and the Agg backend; the timeout only guards against hangs.
Examples written by other modules (caption_words.py, volume_regions.py) are run when present.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXAMPLES = os.path.join(ROOT, "examples")

#: script -> (modules it needs, figure it must write or None when it is not ours to fix)
CASES = {
    "captum_quickstart.py": (("torch", "captum", "matplotlib"), "captum_quickstart.png"),
    "keras_quickstart.py": (("keras", "tensorflow", "matplotlib"), "keras_quickstart.png"),
    "fine_grained_scales.py": (("torch", "matplotlib"), "fine_grained_scales.png"),
    "recursive_instances.py": (("torch", "matplotlib"), "recursive_instances.png"),
    "caption_words.py": (("torch", "transformers", "tokenizers", "matplotlib"), "caption_words.png"),
    "volume_regions.py": (("torch", "matplotlib"), None),
    "detection_boxes.py": (("torch", "matplotlib"), "detection_boxes.png"),
    "time_series.py": (("torch", "matplotlib"), "time_series.png"),
}
TIMEOUT_S = 240
# each example trains (or builds) a small model: about 95 s for all eight on 2 shared cores
pytestmark = pytest.mark.slow


@pytest.mark.parametrize("script", sorted(CASES))
def test_example_runs(script, tmp_path):
    path = os.path.join(EXAMPLES, script)
    if not os.path.exists(path):
        pytest.skip(f"{script} is not in examples/ yet")
    needs, figure = CASES[script]
    missing = [m for m in needs if importlib.util.find_spec(m) is None]
    if missing:
        pytest.skip(f"{script} needs {', '.join(missing)}")
    env = dict(os.environ, MPLBACKEND="Agg", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", TF_NUM_INTRAOP_THREADS="1",
               TF_NUM_INTEROP_THREADS="1", HF_HUB_OFFLINE="1", GLAS_EXAMPLES_OUT=str(tmp_path))
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)  # the examples must keep TensorFlow's start-up notices quiet themselves
    proc = subprocess.run([sys.executable, path], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=TIMEOUT_S)
    assert proc.returncode == 0, f"{script} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"
    if figure is not None:
        written = tmp_path / figure
        assert written.exists(), f"{script} did not write {figure}; it wrote {os.listdir(tmp_path)}"
        assert written.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for notice in ("oneDNN custom operations", "cpu_feature_guard", "cuInit", "Could not find cuda drivers"):
        assert notice not in proc.stderr, f"{script} let TensorFlow's start-up notice through:\n{proc.stderr[-2000:]}"
