"""What the ONNX adapter returns and how it runs the session: shapes, packing, fixed batches, state."""

from __future__ import annotations

import subprocess
import sys
import types
import warnings
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from onnx import helper

import glas_core
from glas_adapters import onnx as glas_onnx
from glas_adapters.onnx.session import default_providers
from tests.adapters.onnx import graphs

SIZE, GRID, CLASSES = 10, 3, 4
ROWS = 2 * GRID * GRID + 1


class CountingSession(ort.InferenceSession):
    """An InferenceSession that records the batch size of every run."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.rows = []

    def run(self, output_names, input_feed, run_options=None):
        self.rows.append(int(next(iter(input_feed.values())).shape[0]))
        return super().run(output_names, input_feed, run_options)


@pytest.fixture
def weights():
    return graphs.linear_weights(3 * SIZE * SIZE, CLASSES, seed=7)


def make(tmp_path, weights, batch="batch", dtype=np.float32, name="m.onnx"):
    return graphs.linear(str(tmp_path / name), [batch, 3, SIZE, SIZE], *weights, dtype=dtype)


def session(path, options):
    return CountingSession(path, options, providers=["CPUExecutionProvider"])


def images(n=3, seed=0):
    return np.random.default_rng(seed).random((n, 3, SIZE, SIZE)).astype(np.float32)


def test_return_conventions(tmp_path, weights, options):
    path, x = make(tmp_path, weights), images()
    kw = dict(grid=GRID, session_options=options)
    assert glas_onnx.explain(path, x, 1, **kw).shape == (3, SIZE, SIZE)
    assert glas_onnx.explain(path, x[0], 1, **kw).shape == (SIZE, SIZE)
    assert glas_onnx.explain(path, x, [[0, 1], [2, 3], [1, 1]], **kw).shape == (3, 2, SIZE, SIZE)
    assert glas_onnx.explain(path, x[0], [[0, 1, 2]], **kw).shape == (3, SIZE, SIZE)
    results = glas_onnx.explain(path, x, [0, 1, 2], return_result=True, **kw)
    assert [type(r) for r in results] == [glas_core.GLASResult] * 3
    assert all(r.log_scale.shape == (1,) and r.n_forward == ROWS for r in results)
    several = glas_onnx.explain(path, x, [[0, 1], [2, 3], [1, 1]], **kw)
    assert np.array_equal(several[1, 0], glas_onnx.explain(path, x[1], 2, **kw))  # one sweep, same maps


def test_predicted_classes_by_default(tmp_path, weights, options):
    path, x = make(tmp_path, weights), images()
    w, b = weights
    predicted = np.argmax(x.reshape(3, -1).astype(np.float64) @ w + b, axis=1)
    assert len(set(predicted.tolist())) > 1  # the images disagree, so a wrong default shows
    expected = glas_onnx.explain(path, x, predicted.tolist(), grid=GRID, session_options=options)
    assert np.array_equal(glas_onnx.explain(path, x, None, grid=GRID, session_options=options), expected)


def test_images_packed_into_full_runs_equal_one_image_at_a_time(tmp_path, weights, options):
    path, x = make(tmp_path, weights), images(3)
    sess = session(path, options)
    packed = glas_onnx.explain(sess, x, [0, 1, 2], grid=GRID, batch_size=8)
    # 3 x 19 rows in runs of 8: no run is short but the last (given targets need no clean pass)
    assert sess.rows == [8] * 7 + [1]
    predicted = session(path, options)
    glas_onnx.explain(predicted, x, None, grid=GRID, batch_size=8)
    assert predicted.rows == [3] + [8] * 7 + [1]  # targets=None: one clean row per image first
    for i in range(3):
        alone = glas_onnx.explain(path, x[i], i, grid=GRID, batch_size=8, session_options=options)
        np.testing.assert_allclose(packed[i], alone, rtol=1e-6, atol=1e-7 * np.abs(alone).max())


@pytest.mark.parametrize("fixed", [1, 3])
def test_fixed_batch_axis(tmp_path, weights, options, fixed):
    """A model exported with batch size 1 or 3 is fed exactly that many rows per run."""
    x = images(2)
    sess = session(make(tmp_path, weights, batch=fixed, name="fixed.onnx"), options)
    got = glas_onnx.explain(sess, x, [[0, 3], [1, 2]], grid=GRID, batch_size=4)
    assert set(sess.rows) == {fixed}
    # runs cover whole multiples of the fixed size: zero rows pad only the last run
    assert sum(sess.rows) == -(-2 * ROWS // fixed) * fixed
    dynamic = glas_onnx.explain(make(tmp_path, weights), x, [[0, 3], [1, 2]], grid=GRID, session_options=options)
    np.testing.assert_allclose(got, dynamic, rtol=1e-5, atol=1e-6 * np.abs(dynamic).max())


def test_progress_counts_every_row_once(tmp_path, weights, options):
    seen = []
    glas_onnx.explain(make(tmp_path, weights), images(2), 0, grid=GRID, batch_size=5, session_options=options,
                      progress=lambda done, total: seen.append((done, total)))
    assert seen[-1] == (2 * ROWS, 2 * ROWS)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen) and len(seen) == -(-2 * ROWS // 5)


def test_callers_images_and_session_are_left_alone(tmp_path, weights, options):
    path = make(tmp_path, weights)
    sess = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    x64 = images(2).astype(np.float64)
    before, providers = x64.copy(), sess.get_providers()
    maps = glas_onnx.explain(sess, x64, 1, grid=GRID)
    assert np.array_equal(x64, before) and x64.dtype == np.float64
    assert sess.get_providers() == providers
    assert np.array_equal(maps, glas_onnx.explain(sess, x64.astype(np.float32), 1, grid=GRID))


def test_integer_images_keep_their_values(tmp_path, weights, options):
    path = make(tmp_path, weights)
    pixels = np.random.default_rng(3).integers(0, 4, (1, 3, SIZE, SIZE)).astype(np.uint8)
    as_float = glas_onnx.explain(path, pixels.astype(np.float32), 2, grid=GRID, session_options=options)
    assert np.array_equal(glas_onnx.explain(path, pixels, 2, grid=GRID, session_options=options), as_float)


def test_float16_model(tmp_path, weights, options):
    x = images(1)
    half = glas_onnx.explain(make(tmp_path, weights, dtype=np.float16, name="h.onnx"), x, 1, grid=GRID,
                             session_options=options)
    full = glas_onnx.explain(make(tmp_path, weights), x, 1, grid=GRID, session_options=options)
    assert half.dtype == np.float32
    np.testing.assert_allclose(half / half.max(), full / full.max(), atol=2e-2)


def test_recursive_matches_the_core_with_a_numpy_model(tmp_path, weights, options):
    path, x = make(tmp_path, weights), images(2)
    w, b = weights

    def numpy_log_softmax(batch, classes):
        z = batch.reshape(len(batch), -1).astype(np.float64) @ w + b
        z = z - z.max(axis=1, keepdims=True)
        return (z - np.log(np.exp(z).sum(axis=1, keepdims=True)))[:, classes]

    got = glas_onnx.explain_recursive(path, x, [[0, 2], [1, 3]], grid=GRID, max_iter=3, session_options=options)
    assert got.shape == (2, 2, SIZE, SIZE)
    for i, classes in enumerate([[0, 2], [1, 3]]):
        want = glas_core.explain_recursive(lambda batch, classes=classes: numpy_log_softmax(batch, classes), x[i],
                                           grid=GRID, max_iter=3, log_scores=True).to_numpy()
        np.testing.assert_allclose(got[i], want, rtol=1e-4, atol=1e-4 * np.abs(want).max())
    single = glas_onnx.explain_recursive(path, x[0], 1, grid=GRID, max_iter=2, session_options=options)
    assert single.shape == (SIZE, SIZE)


def test_a_class_the_model_ignores_gets_a_zero_map_and_a_warning(tmp_path, options):
    """Class 1 is a constant: every map of it is 0, with the core's RuntimeWarning."""
    path = graphs.save(str(tmp_path / "const.onnx"), [
        helper.make_node("ReduceMean", ["x"], ["m"], axes=[1, 2, 3], keepdims=1),
        helper.make_node("Reshape", ["m", "col"], ["c"]), helper.make_node("Mul", ["c", "scale"], ["y"])],
        [graphs.value("x", np.float32, ["n", 3, SIZE, SIZE])], [graphs.value("y", np.float32, ["n", 2])],
        [np.array([-1, 1], dtype=np.int64), np.array([4.0, 0.0], dtype=np.float32)], ["col", "scale"])
    with pytest.warns(RuntimeWarning):
        maps = glas_onnx.explain(path, images(1), [[0, 1]], grid=GRID, probabilities="sigmoid",
                                 session_options=options)
    assert np.all(maps[0, 1] == 0) and maps[0, 0].max() > 0


def test_softmax_over_probabilities_warns(tmp_path, weights, options):
    path = graphs.linear(str(tmp_path / "p.onnx"), ["n", 3, SIZE, SIZE], *weights, head="softmax")
    with pytest.warns(UserWarning, match="pass probabilities=None"):
        glas_onnx.explain(path, images(1), 0, grid=GRID, session_options=options)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        glas_onnx.explain(path, images(1), 0, grid=GRID, probabilities=None, session_options=options)


def test_default_providers_prefer_cuda_and_leave_tensorrt_to_the_user():
    fake = types.SimpleNamespace(get_available_providers=lambda: [
        "TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"])
    assert default_providers(fake) == ["CUDAExecutionProvider", "CPUExecutionProvider"]
    if "CUDAExecutionProvider" not in ort.get_available_providers():
        assert default_providers(ort) == ["CPUExecutionProvider"]


def test_needs_no_training_framework(tmp_path):
    """Loading and explaining an ONNX model imports no torch, TensorFlow, JAX or Keras."""
    code = ("import sys, numpy as np; from tests.adapters.onnx import graphs; from glas_adapters import onnx as g;"
            f"p = graphs.linear({str(tmp_path / 'm.onnx')!r}, ['n', 3, 8, 8], *graphs.linear_weights(192, 3));"
            "m = g.explain(p, np.ones((1, 3, 8, 8), np.float32), 0, grid=2);"
            "print(m.shape, ','.join(k for k in ('torch', 'tensorflow', 'jax', 'keras') if k in sys.modules))")
    root = Path(__file__).resolve().parents[3]
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "(1, 8, 8)", out.stdout + out.stderr
