"""The whole core under array-api-strict (default and non-default device), NumPy and torch: equal maps."""

from __future__ import annotations

import numpy as np
import pytest

import glas_core
from tests.core.toy_models import logistic_model

xp_strict = pytest.importorskip("array_api_strict")


def _setup(shape=(2, 10, 8), n_targets=2):
    rng = np.random.default_rng(11)
    x = rng.random(shape)
    w = rng.normal(scale=0.3, size=(int(np.prod(shape)), n_targets))
    c = rng.normal(size=n_targets)
    score_fn, _ = logistic_model(w, c)
    return x, score_fn


def _strict_devices():
    return [xp_strict.Device("CPU_DEVICE"), xp_strict.Device("device1")]


CASES = {
    "grid": dict(grid=(5, 4), sigma=(2.0, 1.0, 1.5)),
    "points": dict(points=np.array([[1.0, 2.0], [7.0, 5.5], [4.0, 4.0]]), sigma_px=(3.0, 2.0, 2.5)),
    "light": dict(grid=4, mode="light", sigma=1.0),
    "shadow+baseline": dict(grid=4, mode="shadow", sigma=1.0, baseline=0.3),
}


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("device", _strict_devices(), ids=str)
def test_array_api_strict_matches_numpy(case, device):
    x, score_fn = _setup()
    ref = glas_core.explain(score_fn, x, batch_size=6, **CASES[case])
    xs = xp_strict.asarray(x, device=device)
    res = glas_core.explain(score_fn, xs, batch_size=6, **CASES[case])
    assert res.saliency.device == device
    np.testing.assert_allclose(glas_core.to_numpy(res.saliency), ref.saliency, rtol=1e-12)


@pytest.mark.parametrize("device", _strict_devices(), ids=str)
def test_array_api_strict_3d_recursive_and_multiscale(device):
    x, score_fn = _setup(shape=(1, 6, 6, 5))
    xs = xp_strict.asarray(x, device=device)
    kw = dict(spatial_axes=(1, 2, 3), grid=3, sigma=1.0)
    np.testing.assert_allclose(glas_core.to_numpy(glas_core.explain(score_fn, xs, **kw).saliency),
                               glas_core.explain(score_fn, x, **kw).saliency, rtol=1e-12)
    rec_s = glas_core.explain_recursive(score_fn, xs, max_iter=3, **kw)
    rec_n = glas_core.explain_recursive(score_fn, x, max_iter=3, **kw)
    assert rec_n.saliency.shape == (2, 6, 6, 5)
    assert rec_s.stop_reasons == rec_n.stop_reasons
    np.testing.assert_allclose(glas_core.to_numpy(rec_s.saliency), rec_n.saliency, rtol=1e-9)
    ms = glas_core.explain_multiscale(score_fn, xs, sigmas=[2.0, 1.0], spatial_axes=(1, 2, 3), grid=3)
    assert [glas_core.to_numpy(r.saliency).shape for r in ms] == [(2, 6, 6, 5)] * 2


def test_float32_strict_keeps_float32():
    x, score_fn = _setup()
    res = glas_core.explain(score_fn, xp_strict.asarray(x, dtype=xp_strict.float32), grid=4)
    assert res.saliency.dtype == xp_strict.float32


@pytest.mark.parametrize("case", list(CASES))
def test_torch_matches_numpy(case):
    torch = pytest.importorskip("torch")
    x, score_fn = _setup()
    ref = glas_core.explain(score_fn, x, batch_size=6, **CASES[case])
    res = glas_core.explain(score_fn, torch.from_numpy(x), batch_size=6, **CASES[case])
    assert isinstance(res.saliency, torch.Tensor) and res.saliency.dtype == torch.float64
    np.testing.assert_allclose(res.saliency.numpy(), ref.saliency, rtol=1e-12)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_torch_half_inputs_keep_mask_dtype_and_score_in_float32(dtype):
    torch = pytest.importorskip("torch")
    x, score_fn = _setup()
    xt = torch.from_numpy(x).to(getattr(torch, dtype))
    seen = []

    def spy(batch):
        seen.append(batch.dtype)
        return score_fn(batch.float())

    res = glas_core.explain(spy, xt, grid=4, sigma=1.0)
    ref = glas_core.explain(score_fn, xt.float().numpy().astype(np.float64), grid=4, sigma=1.0)
    assert set(seen) == {getattr(torch, dtype)} and res.saliency.dtype == torch.float32
    # half-precision masks: the map agrees with float64 to the precision of the perturbed input
    np.testing.assert_allclose(res.saliency.numpy(), ref.saliency, rtol=0.1, atol=0.02 * ref.saliency.max())


def test_torch_sweep_records_no_autograd_graph():
    torch = pytest.importorskip("torch")
    x = torch.rand(1, 8, 8, requires_grad=True)
    weight = torch.nn.Parameter(torch.ones(64, 1) / 64)
    grads_enabled = []

    def score_fn(batch):
        grads_enabled.append(torch.is_grad_enabled())
        return torch.sigmoid(batch.reshape(batch.shape[0], -1) @ weight)

    res = glas_core.explain(score_fn, x, grid=4)
    assert grads_enabled and not any(grads_enabled)
    assert not res.saliency.requires_grad and x.grad is None
