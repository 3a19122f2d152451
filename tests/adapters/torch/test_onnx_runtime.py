"""runtime="onnx": the sweep runs in ONNX Runtime on the exported model, with PyTorch's maps.

Threads: torch.set_num_threads(1) (conftest); ONNX Runtime's default session here.
"""

from __future__ import annotations

import os
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnxruntime")

from torch import nn  # noqa: E402

from glas_adapters import torch as glas_torch  # noqa: E402
from glas_adapters.torch.onnx_export import checksum_ok, export_model, open_checked_session  # noqa: E402
from glas_core import GLASError  # noqa: E402
from tests.adapters.contract.twins import torch_twin  # noqa: E402

GRID = 4


def _peak_close(got, want, tol=1e-4):
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    err = np.abs(got - want).max()
    assert err <= tol * np.abs(want).max(), (err, np.abs(want).max())


class RowCount(nn.Module):
    """The twin, counting the rows PyTorch itself runs."""

    def __init__(self) -> None:
        super().__init__()
        self.net = torch_twin()
        self.rows = 0

    def forward(self, x):
        self.rows += int(x.shape[0])
        return self.net(x)


@pytest.fixture
def x():
    return torch.rand((2, 3, 12, 12), generator=torch.Generator().manual_seed(7))


def test_maps_equal_pytorch_and_the_sweep_runs_in_onnx_runtime(x):
    model = RowCount().eval()
    want = glas_torch.explain(model, x, [[1, 3], [0, 2]], grid=GRID)
    model.rows = 0
    got = glas_torch.explain(model, x, [[1, 3], [0, 2]], grid=GRID, runtime="onnx")
    assert isinstance(got, torch.Tensor) and got.shape == want.shape == (2, 2, 12, 12)
    _peak_close(got, want)
    sweep_rows = 2 * (2 * GRID * GRID + 1)
    # PyTorch ran only the export's trace and the check of the clean examples, not the sweep
    assert model.rows <= 2 + 2 * 2 < sweep_rows
    rows_after_first = model.rows
    glas_torch.explain(model, x, [[1, 3], [0, 2]], grid=GRID, runtime="onnx")
    assert model.rows - rows_after_first == 2  # exported once per input shape: only the check runs again


def test_recursive_multiscale_and_captum_agree_too(x):
    model = torch_twin()
    _peak_close(glas_torch.explain_recursive(model, x[0], [1, 3], grid=GRID, max_iter=2, runtime="onnx"),
                glas_torch.explain_recursive(model, x[0], [1, 3], grid=GRID, max_iter=2))
    _peak_close(glas_torch.explain_multiscale(model, x, 2, sigmas=[2.0, 1.0], grid=GRID, runtime="onnx"),
                glas_torch.explain_multiscale(model, x, 2, sigmas=[2.0, 1.0], grid=GRID))
    _peak_close(glas_torch.GLASAttribution(model, runtime="onnx").attribute(x, target=[1, 4], grid=GRID),
                glas_torch.GLASAttribution(model).attribute(x, target=[1, 4], grid=GRID))


def test_changed_weights_are_exported_again(x):
    model = torch_twin()
    glas_torch.explain(model, x, 1, grid=GRID, runtime="onnx")
    with torch.no_grad():
        model[0].weight.mul_(-1.0)  # the export of the first call no longer computes this model
    _peak_close(glas_torch.explain(model, x, 1, grid=GRID, runtime="onnx"), glas_torch.explain(model, x, 1, grid=GRID))


class Unexportable(nn.Module):
    """An operator ONNX has no export for (eigvalsh)."""

    def __init__(self) -> None:
        super().__init__()
        self.net = torch_twin()

    def forward(self, x):
        gram = x[:, 0] @ x[:, 0].transpose(1, 2)
        return self.net(x) + torch.linalg.eigvalsh(gram).sum(1, keepdim=True) * 1e-3


class TwoInputs(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.net = torch_twin()

    def forward(self, a, b):
        return self.net(a + b)


@pytest.mark.parametrize("case, reason", [
    ("train", "train mode"),
    ("float64", "torch.float64"),
    ("callable", "not a torch.nn.Module"),
    ("tuple", "tuple of inputs or extra arguments"),
    ("unexportable", "torch.onnx.export cannot export"),
])
def test_what_onnx_runtime_cannot_run_falls_back_with_one_warning(x, case, reason, capfd):
    model = Unexportable().eval() if case == "unexportable" else torch_twin()
    call = {
        "train": lambda: glas_torch.explain(model.train(), x, 1, grid=GRID, runtime="onnx"),
        "float64": lambda: glas_torch.explain(model.double(), x.double(), 1, grid=GRID, runtime="onnx"),
        "callable": lambda: glas_torch.explain(lambda b: model(b), x, 1, grid=GRID, runtime="onnx"),
        "tuple": lambda: glas_torch.explain(TwoInputs().eval(), (x, x), 1, grid=GRID, runtime="onnx"),
        "unexportable": lambda: glas_torch.explain(model, x, 1, grid=GRID, runtime="onnx"),
    }[case]
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        got = call()
    fallbacks = [w for w in seen if "runs this call in PyTorch instead" in str(w.message)]
    assert len(fallbacks) == 1 and reason in str(fallbacks[0].message), [str(w.message) for w in seen]
    assert fallbacks[0].filename == __file__  # the warning points at the caller's line
    assert got.shape == (2, 12, 12) and torch.isfinite(got).all()
    assert capfd.readouterr().out == ""  # the exporter's graph dump on failure stays off the terminal


def test_a_bad_runtime_is_refused(x):
    with pytest.raises(GLASError, match=r"runtime must be 'torch' or 'onnx', got 'ort'"):
        glas_torch.explain(torch_twin(), x, 1, grid=GRID, runtime="ort")
    with pytest.raises(GLASError, match="runtime must be"):
        glas_torch.GLASAttribution(torch_twin(), runtime="tensorrt")


def test_an_export_is_checksummed_and_a_wrong_one_refused(tmp_path, x):
    model = torch_twin()
    path = export_model(model, x[:1], str(tmp_path / "twin.onnx"))
    assert checksum_ok(path) and sorted(os.listdir(tmp_path)) == ["twin.onnx", "twin.onnx.sha256"]  # no temp left
    open_checked_session(path, model, x)  # agrees with PyTorch
    other = torch_twin(seed=1)
    with pytest.raises(GLASError, match="outputs differ from the model's"):
        open_checked_session(path, other, x)
    with open(path, "ab") as fh:
        fh.write(b"\0")
    assert not checksum_ok(path)  # a changed file no longer matches its checksum
