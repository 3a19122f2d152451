"""Every refusal of the ONNX adapter is one GLASError line naming the argument and the fix."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
from onnx import helper

from glas_adapters import onnx as glas_onnx
from glas_core import GLASError
from tests.adapters.onnx import graphs

SIZE = 8


def refused(*fragments, call):
    with pytest.raises(GLASError) as info:
        call()
    message = str(info.value)
    assert "\n" not in message, message
    for fragment in fragments:
        assert fragment in message, (fragment, message)
    return message


@pytest.fixture
def model(tmp_path):
    w, b = graphs.linear_weights(3 * SIZE * SIZE, 4)
    return graphs.linear(str(tmp_path / "m.onnx"), ["batch", 3, SIZE, SIZE], w, b)


@pytest.fixture
def x():
    return np.random.default_rng(0).random((2, 3, SIZE, SIZE)).astype(np.float32)


def test_files_that_are_not_models(tmp_path, x, options):
    refused("model must be a path to a .onnx file", "which is not a file",
            call=lambda: glas_onnx.explain(str(tmp_path / "missing.onnx"), x, session_options=options))
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"not a protobuf\n\x00\x01")
    refused("which ONNX Runtime cannot load", "a valid ONNX model file",
            call=lambda: glas_onnx.explain(str(garbage), x, session_options=options))
    refused("got a dict", call=lambda: glas_onnx.explain({"path": "m.onnx"}, x))


def test_models_that_are_not_one_image_classifier(tmp_path, x, options):
    two_inputs = graphs.save(str(tmp_path / "two_in.onnx"), [
        helper.make_node("Add", ["a", "b"], ["s"]), helper.make_node("ReduceMean", ["s"], ["out"], axes=[2, 3],
                                                                     keepdims=0)],
        [graphs.value("a", np.float32, ["n", 3, SIZE, SIZE]), graphs.value("b", np.float32, ["n", 3, SIZE, SIZE])],
        [graphs.value("out", np.float32, ["n", 3])])
    refused("a model with 2 inputs ('a', 'b')", "one image input", "re-export",
            call=lambda: glas_onnx.explain(two_inputs, x, session_options=options))
    two_outputs = graphs.save(str(tmp_path / "two_out.onnx"), [
        helper.make_node("ReduceMean", ["x"], ["m"], axes=[2, 3], keepdims=0),
        helper.make_node("ReduceMax", ["x"], ["M"], axes=[2, 3], keepdims=0)],
        [graphs.value("x", np.float32, ["n", 3, SIZE, SIZE])],
        [graphs.value("m", np.float32, ["n", 3]), graphs.value("M", np.float32, ["n", 3])])
    refused("a model with 2 outputs ('m', 'M')", "one (N, num_classes) output",
            call=lambda: glas_onnx.explain(two_outputs, x, session_options=options))
    integer = graphs.save(str(tmp_path / "uint8.onnx"), [
        helper.make_node("Cast", ["x"], ["f"], to=1), helper.make_node("ReduceMean", ["f"], ["m"], axes=[2, 3],
                                                                       keepdims=0)],
        [graphs.value("x", np.uint8, ["n", 3, SIZE, SIZE])], [graphs.value("m", np.float32, ["n", 3])])
    refused("of type tensor(uint8)", "a float input",
            call=lambda: glas_onnx.explain(integer, x, session_options=options))
    cube = graphs.save(str(tmp_path / "cube.onnx"), [helper.make_node("Identity", ["x"], ["y"])],
                       [graphs.value("x", np.float32, ["n", 3, SIZE, SIZE])],
                       [graphs.value("y", np.float32, ["n", 3, SIZE, SIZE])])
    refused("an output 'y' of shape", "one (N, num_classes) output",
            call=lambda: glas_onnx.explain(cube, x, session_options=options))
    flat = graphs.save(str(tmp_path / "flat.onnx"), [helper.make_node("ReduceMean", ["x"], ["m"], axes=[1],
                                                                      keepdims=0)],
                       [graphs.value("x", np.float32, ["n", 3 * SIZE])], [graphs.value("m", np.float32, ["n"])])
    refused("a 4-D image batch", call=lambda: glas_onnx.explain(flat, x, session_options=options))


def test_outputs_that_are_not_one_row_per_image(tmp_path, x, options):
    pooled = graphs.save(str(tmp_path / "pooled.onnx"), [  # averages the batch away: (1, 3) for any N
        helper.make_node("ReduceMean", ["x"], ["m"], axes=[0, 2, 3], keepdims=0),
        helper.make_node("Unsqueeze", ["m", "zero"], ["y"])],
        [graphs.value("x", np.float32, ["n", 3, SIZE, SIZE])], [graphs.value("y", np.float32, [1, 3])],
        [np.array([0], dtype=np.int64)], ["zero"])
    refused("model output must be (N, num_classes) scores", "shape (1, 3) for 2 image(s)",
            call=lambda: glas_onnx.explain(pooled, x, grid=2, session_options=options))
    nan = graphs.save(str(tmp_path / "nan.onnx"), [  # log of a negative number under the darkest masks
        helper.make_node("ReduceMean", ["x"], ["m"], axes=[2, 3], keepdims=0),
        helper.make_node("Sub", ["m", "c"], ["d"]), helper.make_node("Log", ["d"], ["y"])],
        [graphs.value("x", np.float32, ["n", 3, SIZE, SIZE])], [graphs.value("y", np.float32, ["n", 3])],
        [np.array(0.2, dtype=np.float32)], ["c"])
    bright = 0.6 + 0.4 * x
    refused("model output must be finite scores", "non-finite",
            call=lambda: glas_onnx.explain(nan, bright, 0, grid=2, session_options=options))


def test_model_that_only_runs_one_image(tmp_path, x, options, capfd):
    """Declared with a dynamic batch, but a Reshape to [1, -1] bakes batch 1 into the graph.

    The failed run's reason is in the message; ONNX Runtime's own log line stays off stderr.
    """
    w, b = graphs.linear_weights(3 * SIZE * SIZE, 4)
    path = graphs.save(str(tmp_path / "b1.onnx"), [
        helper.make_node("Reshape", ["x", "shape"], ["flat"]), helper.make_node("MatMul", ["flat", "w"], ["mm"]),
        helper.make_node("Add", ["mm", "b"], ["y"])],
        [graphs.value("x", np.float32, ["n", 3, SIZE, SIZE])], [graphs.value("y", np.float32, ["n", 4])],
        [np.array([1, -1], dtype=np.int64), w.astype(np.float32), b.astype(np.float32)], ["shape", "w", "b"])
    refused("a session run on a batch of shape", "pass batch_size=1 or re-export it with a dynamic batch axis",
            call=lambda: glas_onnx.explain(path, x[:1], 0, grid=2, session_options=options))
    assert capfd.readouterr().err == ""
    assert glas_onnx.explain(path, x[:1], 0, grid=2, batch_size=1, session_options=options).shape == (1, SIZE, SIZE)


def test_images_the_model_does_not_take(model, x, options):
    refused("images must be NCHW images the model takes, (N, 3, 8, 8)", "resize the images to 8x8",
            call=lambda: glas_onnx.explain(model, np.zeros((2, 3, 16, 16), np.float32), session_options=options))
    refused("the images look NHWC: transpose them with np.transpose(images, (0, 3, 1, 2))",
            call=lambda: glas_onnx.explain(model, np.transpose(x, (0, 2, 3, 1)), session_options=options))
    refused("np.transpose(images, (2, 0, 1))",
            call=lambda: glas_onnx.explain(model, np.transpose(x[0], (1, 2, 0)), session_options=options))
    refused("pass images with 3 channel(s)", call=lambda: glas_onnx.explain(model, x[:, :1], session_options=options))
    refused("rank 2", call=lambda: glas_onnx.explain(model, x[0, 0], session_options=options))
    refused("dtype <U1", call=lambda: glas_onnx.explain(model, np.full((3, SIZE, SIZE), "a"), session_options=options))
    refused("an empty array", call=lambda: glas_onnx.explain(model, x[:0], session_options=options))
    refused("images must be finite pixel values", "NaN or inf",
            call=lambda: glas_onnx.explain(model, np.where(x > 0.99, np.nan, x), session_options=options))
    refused("layout must be 'NCHW', 'NHWC' or None", "got 'CHW'",
            call=lambda: glas_onnx.explain(model, x, layout="CHW", session_options=options))
    refused("layout must be 'NCHW' or None (read from the model)", "got 'NHWC' for a model whose input (N, 3, 8, 8)",
            call=lambda: glas_onnx.explain(model, x, layout="NHWC", session_options=options))


def test_a_tensor_numpy_cannot_read(model, options):
    torch = pytest.importorskip("torch")
    refused("images must be a NumPy array", "tensor.detach().cpu().numpy()",
            call=lambda: glas_onnx.explain(model, torch.ones(2, 3, SIZE, SIZE, requires_grad=True),
                                           session_options=options))


def test_layout_that_nothing_tells(tmp_path, options):
    pooled = graphs.save(str(tmp_path / "any.onnx"), [helper.make_node("ReduceMean", ["x"], ["y"], axes=[2, 3],
                                                                       keepdims=0)],
                         [graphs.value("x", np.float32, ["n", "c", "h", "w"])],
                         [graphs.value("y", np.float32, ["n", "c"])])
    ambiguous = np.random.default_rng(0).random((2, 3, 8, 3)).astype(np.float32)
    refused("layout must be 'NCHW' or 'NHWC' when neither tells the layout", "pass layout='NCHW'",
            call=lambda: glas_onnx.explain(pooled, ambiguous, 0, grid=2, session_options=options))
    assert glas_onnx.explain(pooled, ambiguous, 0, grid=2, layout="NCHW", session_options=options).shape == (2, 8, 3)


def test_targets_and_probabilities(tmp_path, model, x, options):
    refused("targets must be class indices in [0, 4)", "[4, 7], out of range",
            call=lambda: glas_onnx.explain(model, x, [[4, 0], [7, 1]], grid=2, session_options=options))
    refused("targets must be one class per example (2)", "a list of 3 classes for a batch of 2",
            call=lambda: glas_onnx.explain(model, x, [0, 1, 2], grid=2, session_options=options))
    refused("targets must be", "'1'", call=lambda: glas_onnx.explain(model, x, "1", grid=2, session_options=options))
    refused("the bool True", call=lambda: glas_onnx.explain(model, x, True, grid=2, session_options=options))
    refused("probabilities must be",
            call=lambda: glas_onnx.explain(model, x, probabilities="log", grid=2, session_options=options))
    refused("probabilities must be probabilities in [0, 1]", "pass probabilities='softmax'",
            call=lambda: glas_onnx.explain(model, x, 0, probabilities=None, grid=2, session_options=options))
    one = graphs.linear(str(tmp_path / "one.onnx"), ["n", 3, SIZE, SIZE], *graphs.linear_weights(3 * SIZE * SIZE, 1))
    refused("a softmax over one value is always 1", "probabilities='sigmoid'",
            call=lambda: glas_onnx.explain(one, x, 0, grid=2, session_options=options))
    refused("a single-output sigmoid model is explained with class 0",
            call=lambda: glas_onnx.explain(one, x, 1, probabilities="sigmoid", grid=2, session_options=options))


def test_settings_and_sessions(model, x, options):
    refused("grid", call=lambda: glas_onnx.explain(model, x, grid=0, session_options=options))
    refused("providers must be one of", "'NoSuchExecutionProvider', which this onnxruntime does not offer",
            call=lambda: glas_onnx.explain(model, x, providers=["NoSuchExecutionProvider"]))
    refused("providers must be a non-empty list", call=lambda: glas_onnx.explain(model, x, providers="CPU"))
    refused("session_options must be an onnxruntime.SessionOptions",
            call=lambda: glas_onnx.explain(model, x, session_options={"threads": 1}))
    session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    refused("given only with a path", call=lambda: glas_onnx.explain(session, x, session_options=options))
    refused("given only with a path", call=lambda: glas_onnx.explain(session, x, providers=["CPUExecutionProvider"]))
