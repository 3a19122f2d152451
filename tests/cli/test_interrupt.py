"""Killing ``glas explain`` in the middle of a folder: nothing finished is lost, nothing half-written
stays, and a rerun computes only the rest and ends with exactly the output of an uninterrupted run.

The command runs as a real subprocess (one torch thread) on eight images with a TorchScript model
that takes about 0.4 s per image; the signal is sent once two images are finished.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pq = pytest.importorskip("pyarrow.parquet")
pytest.importorskip("PIL")

from .helpers import files_under, make_slow_quadrant_model, save_rgb  # noqa: E402

pytestmark = pytest.mark.slow

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
N_IMAGES = 8


@pytest.fixture(scope="module")
def job(tmp_path_factory):
    """Eight images, the slow model, and the output of an uninterrupted run."""
    base = tmp_path_factory.mktemp("interrupt")
    rng = np.random.default_rng(11)
    os.makedirs(base / "photos")
    for i in range(N_IMAGES):
        save_rgb(str(base / "photos" / f"img{i:02d}.png"), rng.random((16, 16, 3)))
    model = str(base / "slow.pt")
    torch.jit.script(make_slow_quadrant_model(150)).save(model)
    reference = base / "reference"
    from glas_adapters.cli import main

    assert main(_args(base, reference)) == 0      # in this process: one torch thread, as in the subprocesses
    return base, reference


def _args(base, out) -> list[str]:
    return ["explain", str(base / "photos"), "--model", str(base / "slow.pt"), "--input-size", "16", "--grid", "6",
            "--batch-size", "8", "--sigma", "2", "1", "--top-k", "2", "--device", "cpu", "--out", str(out), "--quiet"]


def _glas(base, out) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""), OMP_NUM_THREADS="1")
    return subprocess.Popen([sys.executable, "-m", "glas_adapters.cli", *_args(base, out)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _finished(out) -> int:
    records = out / "records"
    return len([n for n in os.listdir(records) if n.endswith(".json")]) if records.is_dir() else 0


def _assert_same_output(out, reference) -> None:
    got, want = pq.read_table(out / "manifest.parquet"), pq.read_table(reference / "manifest.parquet")
    assert got.equals(want)
    maps = [f for f in files_under(str(reference)) if f.startswith("maps/")]
    assert [f for f in files_under(str(out)) if f.startswith("maps/")] == maps and len(maps) == N_IMAGES
    for name in maps:
        a, b = np.load(out / name), np.load(reference / name)
        assert a.files == b.files
        for key in a.files:
            assert np.array_equal(a[key], b[key]), (name, key)


@pytest.mark.parametrize("sig, code", [(signal.SIGTERM, 143), (signal.SIGINT, 130), (signal.SIGKILL, -9)])
def test_killed_mid_run_then_resumed_equals_an_uninterrupted_run(job, tmp_path, sig, code):
    base, reference = job
    out = tmp_path / "out"
    proc = _glas(base, out)
    deadline = time.monotonic() + 240
    while _finished(out) < 2 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, "the run ended before it could be interrupted"
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == code, err
    finished = _finished(out)
    assert 2 <= finished < N_IMAGES
    if sig != signal.SIGKILL:
        assert "Traceback" not in err and "finished results are kept" in err
        assert [f for f in files_under(str(out)) if f.endswith(".part")] == []
        rows = pq.read_table(out / "manifest.parquet")            # rewritten on the way out
        assert len(set(rows.column("image_id").to_pylist())) == finished
    rerun = _glas(base, out)
    stdout, err = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, err
    assert f"explained {N_IMAGES - finished} of {N_IMAGES} images" in stdout
    assert [f for f in files_under(str(out)) if f.endswith(".part")] == []
    _assert_same_output(out, reference)
