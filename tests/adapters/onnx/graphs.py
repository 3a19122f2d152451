"""Small ONNX models written node by node with ``onnx.helper`` (no exporter, no framework).

Each returns the path of the saved ``.onnx`` file.  ``linear`` is the workhorse: logits
``flatten(x) @ W + b``, whose scores a test recomputes in NumPy.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET, IR_VERSION = 17, 9  # read by every onnxruntime >= 1.17
_TYPES = {np.float32: TensorProto.FLOAT, np.float64: TensorProto.DOUBLE, np.float16: TensorProto.FLOAT16,
          np.uint8: TensorProto.UINT8, np.int64: TensorProto.INT64}


def save(path: str, nodes: list, inputs: list, outputs: list, initializers: Sequence[np.ndarray] = (),
         names: Sequence[str] = ()) -> str:
    graph = helper.make_graph(nodes, "g", inputs, outputs,
                              [numpy_helper.from_array(a, n) for a, n in zip(initializers, names)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return path


def value(name: str, dtype: type, dims: Sequence[int | str | None]) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, _TYPES[dtype], list(dims))


def linear_weights(n_features: int, n_classes: int, seed: int = 0, scale: float = 4.0) -> tuple[np.ndarray, np.ndarray]:
    """Seeded ``W (features, classes)`` and ``b (classes,)`` giving logits of order ``scale``."""
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((n_features, n_classes)) * scale / n_features ** 0.5,
            rng.standard_normal(n_classes) * 0.1)


def linear(path: str, dims: Sequence[int | str | None], w: np.ndarray, b: np.ndarray, dtype: type = np.float32,
           head: str | None = None) -> str:
    """``logits = flatten(x) @ w + b`` (then ``Softmax`` with ``head="softmax"``), input ``pixels``."""
    nodes = [helper.make_node("Flatten", ["pixels"], ["flat"], axis=1),
             helper.make_node("MatMul", ["flat", "w"], ["mm"]),
             helper.make_node("Add", ["mm", "b"], ["logits" if head is None else "raw"])]
    if head == "softmax":
        nodes.append(helper.make_node("Softmax", ["raw"], ["logits"], axis=1))
    return save(path, nodes, [value("pixels", dtype, dims)], [value("logits", dtype, ["batch", w.shape[1]])],
                [w.astype(dtype), b.astype(dtype)], ["w", "b"])
