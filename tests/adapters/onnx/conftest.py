"""The ONNX adapter tests need onnxruntime, and the onnx package to build or export models.

Every session the tests open runs on one intra-op and one inter-op thread (the tests share 2
cores): the ``options`` fixture, passed as ``session_options=``; the library never sets them.
Modules that export PyTorch models skip themselves without torch.
"""

import pytest

ort = pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")


@pytest.fixture
def options():
    """``onnxruntime.SessionOptions`` with one intra-op and one inter-op thread."""
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    return so
